package dev.attune.runtime;

import dev.attune.kernels.select.AttentionChoice;

/**
 * What one forward pass on a device produced: the pass's value and the choice (path, dtype)
 * that produced it.
 *
 * @param value             what the pass returned
 * @param choice            the path and dtype it ran on
 * @param precisionFallback the device's dtype overflowed and the pass was re-run in fp32
 */
public record PassOutcome<R>(R value, AttentionChoice choice, boolean precisionFallback) {}
