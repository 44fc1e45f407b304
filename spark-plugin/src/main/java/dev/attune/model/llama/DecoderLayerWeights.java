package dev.attune.model.llama;

import dev.attune.kernels.ops.WeightData;

/**
 * One decoder layer's weights on the host, Linear weights input-major (in, out) in the
 * checkpoint's precision ({@link DecoderWeights}), norms and biases fp32.
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
        WeightData qkv,
        float[] qkvBias,
        float[] qNorm,
        float[] kNorm,
        WeightData o,
        float[] oBias,
        float[] postNorm,
        WeightData gateUp,
        WeightData down) {}
