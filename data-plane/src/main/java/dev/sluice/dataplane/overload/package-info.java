/** Signals that a data plane is overloaded and should shed new calls. */
@NullMarked
package dev.sluice.dataplane.overload;

import org.jspecify.annotations.NullMarked;
