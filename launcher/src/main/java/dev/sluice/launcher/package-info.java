/**
 * The {@code sluice} command: {@code dev} runs a whole gateway on one machine, {@code
 * control-plane} and {@code data-plane} run each server on its own, and {@code apply}, {@code
 * get}, {@code history}, {@code chat} and {@code models} talk to running servers.
 *
 * <p>Commands write their results to picocli's output writer and diagnostics to its error writer,
 * so tests can run them in-process and read what a user would see.
 */
@NullMarked
package dev.sluice.launcher;

import org.jspecify.annotations.NullMarked;
