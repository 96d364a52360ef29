/** Config as operators write it: YAML documents, each one {@code sluice.config.v1.Resource}. */
@NullMarked
package dev.sluice.controlplane.config;

import org.jspecify.annotations.NullMarked;
