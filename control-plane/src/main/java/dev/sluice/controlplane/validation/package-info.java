/**
 * Validation of a whole candidate config: every rule the control plane enforces beyond what the
 * protos can express, run by admin writes before anything is committed and again by the snapshot
 * builder before anything reaches a data plane.
 */
@NullMarked
package dev.sluice.controlplane.validation;

import org.jspecify.annotations.NullMarked;
