package dev.attune.model.onnx;

import dev.attune.model.ModelFormatException;
import dev.attune.model.config.BertConfig;
import dev.attune.model.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Imports the weights of a BERT-family model exported to ONNX by Hugging Face Optimum or
 * {@code torch.onnx} into the Hugging Face layout ({@code model.safetensors} + {@code config.json}).
 *
 * <p>Such exports keep LayerNorm weights, biases and embeddings under their Hugging Face names,
 * but store each Linear weight transposed, (in, out), as an anonymous initializer
 * ({@code onnx::MatMul_<n>}); the MatMul node that consumes it is named after the layer
 * ({@code /encoder/layer.0/attention/self/query/MatMul}). The importer recovers the name from
 * that node and transposes back to (out, in). Sizes are inferred from the tensors; the head count
 * and LayerNorm epsilon are not recoverable from the weights and must be given.
 */
public final class OnnxBertImporter {

    private static final Pattern LINEAR_NODE =
            Pattern.compile("^/?((?:bert/|roberta/)?(?:encoder/layer\\.\\d+/[a-z_/]+" + "|pooler/dense))/MatMul$");
    private static final Pattern LAYER = Pattern.compile("encoder\\.layer\\.(\\d+)\\.");

    private OnnxBertImporter() {}

    /**
     * Converts {@code onnx} into {@code target} (which must exist) and returns the config
     * written there.
     */
    public static BertConfig importTo(OnnxInitializers onnx, String source, int heads, double layerNormEps, Path target)
            throws IOException {
        Map<String, long[]> shapes = new TreeMap<>();
        SafetensorsWriter out = new SafetensorsWriter().metadata("format", "pt").metadata("attune.source", source);
        Map<String, OnnxInitializers.Tensor> init = onnx.tensors();
        java.util.Set<String> used = new java.util.HashSet<>();
        for (OnnxInitializers.Node node : onnx.nodes()) {
            if (!node.opType().equals("MatMul") || node.inputs().size() != 2) {
                continue;
            }
            OnnxInitializers.Tensor w = init.get(node.inputs().get(1));
            Matcher m = LINEAR_NODE.matcher(node.name());
            if (w == null || !m.matches()) {
                continue;
            }
            if (w.dims().length != 2) {
                throw new ModelFormatException(source + ": weight of " + node.name() + " is not a matrix");
            }
            String name = m.group(1).replace('/', '.') + ".weight";
            int in = (int) w.dims()[0];
            int outDim = (int) w.dims()[1];
            float[] t = new float[in * outDim];
            for (int i = 0; i < in; i++) {
                for (int o = 0; o < outDim; o++) {
                    t[o * in + i] = w.data()[i * outDim + o];
                }
            }
            out.add(name, new long[] {outDim, in}, t);
            shapes.put(name, new long[] {outDim, in});
            used.add(w.name());
        }
        for (OnnxInitializers.Tensor t : init.values()) {
            if (!used.contains(t.name())
                    && t.name().matches("^(bert\\.|roberta\\.)?(embeddings|encoder|pooler)\\..*")) {
                out.add(t.name(), t.dims(), t.data());
                shapes.put(t.name(), t.dims());
            }
        }
        BertConfig config = infer(source, shapes, heads, layerNormEps);
        out.write(target.resolve("model.safetensors"));
        config.write(target);
        return config;
    }

    private static BertConfig infer(String source, Map<String, long[]> shapes, int heads, double eps) {
        long[] word = require(source, shapes, "embeddings.word_embeddings.weight");
        long[] pos = require(source, shapes, "embeddings.position_embeddings.weight");
        long[] type = require(source, shapes, "embeddings.token_type_embeddings.weight");
        long[] inter = require(source, shapes, "encoder.layer.0.intermediate.dense.weight");
        int layers = 0;
        for (String n : shapes.keySet()) {
            Matcher m = LAYER.matcher(n);
            if (m.find()) {
                layers = Math.max(layers, Integer.parseInt(m.group(1)) + 1);
            }
        }
        for (int l = 0; l < layers; l++) {
            for (String part : new String[] {
                "attention.self.query",
                "attention.self.key",
                "attention.self.value",
                "attention.output.dense",
                "intermediate.dense",
                "output.dense"
            }) {
                require(source, shapes, "encoder.layer." + l + "." + part + ".weight");
            }
        }
        return new BertConfig(
                "bert",
                (int) word[1],
                layers,
                heads,
                (int) inter[0],
                (int) pos[0],
                (int) type[0],
                (int) word[0],
                eps,
                0,
                "float32",
                Map.of());
    }

    private static long[] require(String source, Map<String, long[]> shapes, String name) {
        long[] s = shapes.get(name);
        if (s == null) {
            throw new ModelFormatException(source + ": the ONNX model has no weight for '" + name
                    + "'; is it a BERT-family encoder exported by Optimum or torch.onnx?");
        }
        return s;
    }
}
