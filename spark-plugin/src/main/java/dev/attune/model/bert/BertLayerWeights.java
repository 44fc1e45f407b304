package dev.attune.model.bert;

/**
 * One encoder layer's weights, fp32, every matrix input-major (in, out) so the CPU GEMM reads
 * each input feature's row of outputs contiguously.
 *
 * @param qkv        (hidden, 3·hidden): query, key and value projections side by side
 * @param qkvBias    (3·hidden)
 * @param attnOut    (hidden, hidden)
 * @param attnOutBias (hidden)
 * @param attnNormGamma (hidden) LayerNorm after attention
 * @param attnNormBeta  (hidden)
 * @param ffnIn      (hidden, intermediate)
 * @param ffnInBias  (intermediate)
 * @param ffnOut     (intermediate, hidden)
 * @param ffnOutBias (hidden)
 * @param ffnNormGamma (hidden) LayerNorm after the feed-forward block
 * @param ffnNormBeta  (hidden)
 */
public record BertLayerWeights(
        float[] qkv,
        float[] qkvBias,
        float[] attnOut,
        float[] attnOutBias,
        float[] attnNormGamma,
        float[] attnNormBeta,
        float[] ffnIn,
        float[] ffnInBias,
        float[] ffnOut,
        float[] ffnOutBias,
        float[] ffnNormGamma,
        float[] ffnNormBeta) {}
