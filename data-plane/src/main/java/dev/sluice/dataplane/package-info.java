/**
 * The Sluice data plane: serves {@code sluice.inference.v1.InferenceService} from the config a
 * control plane streams to it. {@link dev.sluice.dataplane.DataPlane} is the one entry point;
 * everything else is wiring behind it.
 */
@NullMarked
package dev.sluice.dataplane;

import org.jspecify.annotations.NullMarked;
