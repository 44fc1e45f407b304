package dev.attune.model.llama;

/**
 * One decoder layer's weights on the host, fp32, Linear weights input-major (in, out).
 *
 * @param inputNorm  (hidden) RMSNorm gain before attention
 * @param qkv        (hidden, qDim + 2·kvDim): q | k | v projections side by side
 * @param qkvBias    (qDim + 2·kvDim) or null
 * @param qNorm      (head_dim) per-head RMSNorm gain on q (Qwen3) or null
 * @param kNorm      (head_dim) per-head RMSNorm gain on k (Qwen3) or null
 * @param o          (qDim, hidden) output projection
 * @param oBias      (hidden) or null
 * @param postNorm   (hidden) RMSNorm gain before the MLP
 * @param gateUp     (hidden, 2·intermediate): gate | up projections side by side
 * @param down       (intermediate, hidden)
 */
public record DecoderLayerWeights(
        float[] inputNorm,
        float[] qkv,
        float[] qkvBias,
        float[] qNorm,
        float[] kNorm,
        float[] o,
        float[] oBias,
        float[] postNorm,
        float[] gateUp,
        float[] down) {}
