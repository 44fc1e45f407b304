package dev.attune.runtime;

import dev.attune.kernels.select.AttentionChoice;

/**
 * What running one batch on a device produced.
 *
 * @param hidden          last hidden state, (tokens, hidden), packed order
 * @param choice          the path and dtype that produced it
 * @param precisionFallback the device's dtype overflowed and the batch was re-run in fp32
 */
public record BatchOutcome(float[] hidden, AttentionChoice choice, boolean precisionFallback) {
}
