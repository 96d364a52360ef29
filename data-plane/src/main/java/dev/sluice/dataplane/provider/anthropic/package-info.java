/** The Anthropic Messages wire protocol ({@code POST /v1/messages}, streamed and unary). */
@NullMarked
package dev.sluice.dataplane.provider.anthropic;

import org.jspecify.annotations.NullMarked;
