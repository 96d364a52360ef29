/**
 * JSON helpers the HTTP adapters share: streaming (Jackson core) conversion between protobuf
 * {@code Struct}/{@code Value} and JSON, without building trees.
 */
@NullMarked
package dev.sluice.dataplane.provider.json;

import org.jspecify.annotations.NullMarked;
