package dev.attune.testing;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.attune.model.builtin.BuiltinModel;
import dev.attune.model.config.Pooling;
import dev.attune.model.tokenizer.TokenizedText;
import java.io.InputStream;
import java.nio.LongBuffer;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime running a built-in model's original ONNX file: the independent reference for
 * Attune's encoder. Pooling and normalisation are done here, separately from Attune's code.
 */
public final class OnnxReference implements AutoCloseable {

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;

    public OnnxReference(BuiltinModel model, int threads) throws Exception {
        byte[] bytes;
        try (InputStream in = OnnxReference.class.getClassLoader().getResourceAsStream(model.onnxResource())) {
            bytes = in.readAllBytes();
        }
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setIntraOpNumThreads(threads);
        o.setInterOpNumThreads(1);
        session = env.createSession(bytes, o);
    }

    /** Last hidden state of each row, (rows)(len, hidden), rows padded to the longest in the batch. */
    public float[][][] hidden(List<TokenizedText> rows) throws OrtException {
        int b = rows.size();
        int n = rows.stream().mapToInt(TokenizedText::length).max().orElse(0);
        long[] ids = new long[b * n];
        long[] mask = new long[b * n];
        long[] types = new long[b * n];
        for (int r = 0; r < b; r++) {
            TokenizedText t = rows.get(r);
            for (int i = 0; i < t.length(); i++) {
                ids[r * n + i] = t.ids()[i];
                types[r * n + i] = t.typeIds()[i];
                mask[r * n + i] = 1;
            }
        }
        long[] shape = {b, n};
        try (OnnxTensor idT = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape);
                OnnxTensor maskT = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
                OnnxTensor typeT = OnnxTensor.createTensor(env, LongBuffer.wrap(types), shape)) {
            Map<String, OnnxTensor> in = new java.util.HashMap<>();
            for (String name : session.getInputNames()) {
                switch (name) {
                    case "input_ids" -> in.put(name, idT);
                    case "attention_mask" -> in.put(name, maskT);
                    case "token_type_ids" -> in.put(name, typeT);
                    default -> throw new IllegalStateException("unexpected ONNX input " + name);
                }
            }
            try (OrtSession.Result res = session.run(in)) {
                return (float[][][]) res.get(0).getValue();
            }
        }
    }

    /** Sentence vectors with the given pooling, L2-normalized. */
    public float[][] embed(List<TokenizedText> rows, Pooling pooling) throws OrtException {
        float[][][] h = hidden(rows);
        float[][] out = new float[rows.size()][];
        for (int r = 0; r < rows.size(); r++) {
            int len = rows.get(r).length();
            int d = h[r][0].length;
            double[] v = new double[d];
            if (pooling == Pooling.CLS) {
                for (int i = 0; i < d; i++) {
                    v[i] = h[r][0][i];
                }
            } else {
                for (int t = 0; t < len; t++) {
                    for (int i = 0; i < d; i++) {
                        v[i] += h[r][t][i];
                    }
                }
                for (int i = 0; i < d; i++) {
                    v[i] /= len;
                }
            }
            double norm = 0;
            for (double x : v) {
                norm += x * x;
            }
            norm = Math.sqrt(norm);
            out[r] = new float[d];
            for (int i = 0; i < d; i++) {
                out[r][i] = (float) (v[i] / norm);
            }
        }
        return out;
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
