package dev.attune.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.attune.model.builtin.BuiltinModel;
import dev.attune.model.builtin.BuiltinModels;
import dev.attune.model.safetensors.SafetensorsWriter;
import dev.attune.model.safetensors.WeightStore;
import dev.attune.model.tokenizer.TextTokenizer;
import dev.attune.model.tokenizer.TokenizedText;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * A small {@code BertForSequenceClassification} checkpoint made from the built-in
 * all-MiniLM-L6-v2 for tests: the encoder's tensors renamed with the {@code bert.} prefix, plus a
 * pooler ({@code bert.pooler.dense}, 384x384) and a two-label classifier ({@code classifier},
 * 2x384) drawn from a fixed-seed generator, stored (out, in) as Hugging Face does, and
 * {@code id2label = {0: negative, 1: positive}}.
 *
 * <p>{@link #expected} computes what the checkpoint should predict without any of Attune's model
 * code: ONNX Runtime runs the original MiniLM ONNX file for the last hidden state, and the pooler,
 * classifier and softmax are applied here in double precision.
 */
public final class ClassifierCheckpoint {

    public static final List<String> LABELS = List.of("negative", "positive");
    public static final int HIDDEN = 384;
    private static final double SCALE = 0.05;

    private final Path dir;
    /** (out, in), as stored. */
    private final float[] poolerW;

    private final float[] poolerB;
    /** (labels, in), as stored. */
    private final float[] classifierW;

    private final float[] classifierB;

    private ClassifierCheckpoint(Path dir, float[] poolerW, float[] poolerB, float[] classifierW, float[] classifierB) {
        this.dir = dir;
        this.poolerW = poolerW;
        this.poolerB = poolerB;
        this.classifierW = classifierW;
        this.classifierB = classifierB;
    }

    /** The model directory. */
    public Path dir() {
        return dir;
    }

    /** Writes the checkpoint into {@code dir} (created if needed) with weights drawn from {@code seed}. */
    public static ClassifierCheckpoint build(Path dir, long seed) throws IOException {
        Path src = BuiltinModels.resolve(BuiltinModel.ALL_MINILM_L6_V2.uri());
        Files.createDirectories(dir);
        copyTree(src.resolve("1_Pooling"), dir.resolve("1_Pooling"));
        for (String f : List.of(TextTokenizer.FILE, "modules.json", "sentence_bert_config.json")) {
            Files.copy(src.resolve(f), dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }

        ObjectMapper json = new ObjectMapper();
        ObjectNode config =
                (ObjectNode) json.readTree(src.resolve("config.json").toFile());
        config.putArray("architectures").add("BertForSequenceClassification");
        config.put("model_type", "bert");
        ObjectNode id2label = config.putObject("id2label");
        ObjectNode label2id = config.putObject("label2id");
        for (int i = 0; i < LABELS.size(); i++) {
            id2label.put(String.valueOf(i), LABELS.get(i));
            label2id.put(LABELS.get(i), i);
        }
        if (config.path("hidden_size").asInt() != HIDDEN) {
            throw new IllegalStateException("expected hidden size " + HIDDEN + " in " + src);
        }
        Files.writeString(
                dir.resolve("config.json"),
                json.writerWithDefaultPrettyPrinter().writeValueAsString(config));

        Random rnd = new Random(seed);
        float[] pw = gaussian(rnd, HIDDEN * HIDDEN);
        float[] pb = gaussian(rnd, HIDDEN);
        float[] cw = gaussian(rnd, LABELS.size() * HIDDEN);
        float[] cb = gaussian(rnd, LABELS.size());

        WeightStore store = WeightStore.open(src);
        SafetensorsWriter w = new SafetensorsWriter();
        for (String name : new TreeSet<>(store.names())) {
            if (name.startsWith("pooler.")) {
                continue; // replaced by the random pooler below
            }
            w.add("bert." + name, store.info(name).shape(), store.floats(name));
        }
        w.add("bert.pooler.dense.weight", new long[] {HIDDEN, HIDDEN}, pw);
        w.add("bert.pooler.dense.bias", new long[] {HIDDEN}, pb);
        w.add("classifier.weight", new long[] {LABELS.size(), HIDDEN}, cw);
        w.add("classifier.bias", new long[] {LABELS.size()}, cb);
        w.write(dir.resolve(WeightStore.SINGLE_FILE));
        return new ClassifierCheckpoint(dir, pw, pb, cw, cb);
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextGaussian() * SCALE);
        }
        return a;
    }

    /** Class probabilities for a [CLS] hidden vector: softmax(C · tanh(P · cls + p) + c), in double. */
    public double[] probabilities(float[] cls) {
        double[] pooled = new double[HIDDEN];
        for (int o = 0; o < HIDDEN; o++) {
            double acc = poolerB[o];
            for (int i = 0; i < HIDDEN; i++) {
                acc += (double) poolerW[o * HIDDEN + i] * cls[i];
            }
            pooled[o] = Math.tanh(acc);
        }
        int n = LABELS.size();
        double[] logits = new double[n];
        double max = Double.NEGATIVE_INFINITY;
        for (int l = 0; l < n; l++) {
            double acc = classifierB[l];
            for (int i = 0; i < HIDDEN; i++) {
                acc += (double) classifierW[l * HIDDEN + i] * pooled[i];
            }
            logits[l] = acc;
            max = Math.max(max, acc);
        }
        double sum = 0;
        for (int l = 0; l < n; l++) {
            logits[l] = Math.exp(logits[l] - max);
            sum += logits[l];
        }
        for (int l = 0; l < n; l++) {
            logits[l] /= sum;
        }
        return logits;
    }

    /**
     * The expected class probabilities of each text (null for a null text): tokenized with the
     * checkpoint's tokenizer.json, run through ONNX Runtime on the original MiniLM ONNX one text at
     * a time, then {@link #probabilities} of the [CLS] position.
     */
    public double[][] expected(List<String> texts) throws Exception {
        double[][] out = new double[texts.size()][];
        try (TextTokenizer tok = TextTokenizer.load(dir, 256);
                OnnxReference ort = new OnnxReference(BuiltinModel.ALL_MINILM_L6_V2, 2)) {
            for (int i = 0; i < texts.size(); i++) {
                if (texts.get(i) == null) {
                    continue;
                }
                TokenizedText t = tok.encode(texts.get(i));
                float[][][] h = ort.hidden(List.of(t));
                out[i] = probabilities(h[0][0]);
            }
        }
        return out;
    }

    /** Index of the largest probability. */
    public static int argmax(double[] p) {
        int best = 0;
        for (int i = 1; i < p.length; i++) {
            if (p[i] > p[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The expected labels of {@code probs} (null stays null). */
    public static List<String> labels(double[][] probs) {
        List<String> l = new ArrayList<>();
        for (double[] p : probs) {
            l.add(p == null ? null : LABELS.get(argmax(p)));
        }
        return l;
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(q);
                } else {
                    Files.copy(p, q, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }
}
