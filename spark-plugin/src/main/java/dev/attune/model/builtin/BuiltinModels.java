package dev.attune.model.builtin;

import dev.attune.model.ModelFormatException;
import dev.attune.model.io.CacheEntry;
import dev.attune.model.onnx.OnnxBertImporter;
import dev.attune.model.onnx.OnnxInitializers;
import dev.attune.model.tokenizer.TextTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.stream.Collectors;

/**
 * Resolves {@code builtin:NAME} to a Hugging Face model directory in the local cache, converting
 * the ONNX export from its Maven jar the first time.
 *
 * <p>Concurrency: several JVMs on one host (Spark executors) may resolve the same model at once.
 * The conversion runs under an exclusive file lock, writes into a private temporary directory and
 * appears under its final name by one atomic rename, so a reader sees either no directory or a
 * complete one. The cache key includes the jar's URL, so a new jar version converts anew. Every
 * resolve checks the directory against the manifest written with it and converts again when a
 * file is missing or has the wrong size; leftovers of killed conversions are removed. See {@link
 * CacheEntry}.
 *
 * <p>The cache root is {@code -Dattune.cache.dir}, else {@code $ATTUNE_CACHE_DIR}, else
 * {@code ~/.cache/attune}.
 */
public final class BuiltinModels {

    private BuiltinModels() {}

    public static Path cacheRoot() {
        String p = System.getProperty("attune.cache.dir");
        if (p == null || p.isBlank()) {
            p = System.getenv("ATTUNE_CACHE_DIR");
        }
        if (p == null || p.isBlank()) {
            p = System.getProperty("user.home") + "/.cache/attune";
        }
        return Path.of(p);
    }

    /** The local model directory of {@code name} ({@code builtin:NAME} or NAME). */
    public static Path resolve(String name) {
        BuiltinModel model = BuiltinModel.find(name)
                .orElseThrow(
                        () -> new ModelFormatException("unknown built-in model '" + name + "'; built-in models are "
                                + Arrays.stream(BuiltinModel.values())
                                        .map(BuiltinModel::uri)
                                        .collect(Collectors.joining(", "))));
        return resolve(model, cacheRoot());
    }

    /**
     * The local model directory of {@code model} under {@code cacheRoot}, converted the first time
     * and again whenever the cached copy is found damaged (see {@link CacheEntry}).
     */
    public static Path resolve(BuiltinModel model, Path cacheRoot) {
        URL onnx = resource(model, model.onnxResource());
        URL tok = resource(model, model.tokenizerResource());
        return CacheEntry.resolve(
                cacheDirectory(model, onnx, tok, cacheRoot),
                "prepare built-in model " + model.uri(),
                "converting it again",
                target -> convert(model, onnx, tok, target));
    }

    /** Where {@link #resolve(BuiltinModel, Path)} keeps {@code model}; nothing is created. */
    public static Path cacheDirectory(BuiltinModel model, Path cacheRoot) {
        return cacheDirectory(
                model, resource(model, model.onnxResource()), resource(model, model.tokenizerResource()), cacheRoot);
    }

    private static Path cacheDirectory(BuiltinModel model, URL onnx, URL tok, Path cacheRoot) {
        // v2: entries carry CacheEntry's manifest; v1 entries, written without one, are left alone.
        return cacheRoot.resolve("models").resolve(model.id() + "-" + shortHash(onnx + "|" + tok + "|v2"));
    }

    private static void convert(BuiltinModel model, URL onnx, URL tok, Path target) throws IOException {
        byte[] bytes;
        try (InputStream in = onnx.openStream()) {
            bytes = in.readAllBytes();
        }
        OnnxInitializers init = OnnxInitializers.read(onnx.toString(), bytes);
        OnnxBertImporter.importTo(
                init, model.artifact() + "!/" + model.onnxResource(), model.heads(), model.layerNormEps(), target);
        try (InputStream in = tok.openStream()) {
            Files.copy(in, target.resolve(TextTokenizer.FILE));
        }
        model.sentence().write(target, readHidden(target));
        Files.writeString(
                target.resolve("README.attune.txt"),
                "Converted by Attune from " + model.artifact() + " (" + onnx + ") for " + model.uri() + ".\n",
                StandardCharsets.UTF_8);
    }

    private static int readHidden(Path dir) {
        return dev.attune.model.config.BertConfig.read(dir).hiddenSize();
    }

    private static URL resource(BuiltinModel model, String name) {
        URL u = BuiltinModels.class.getClassLoader().getResource(name);
        if (u == null) {
            throw new ModelFormatException("built-in model " + model.uri() + " needs the jar " + model.artifact()
                    + " on the classpath (resource '" + name + "' not found)");
        }
        return u;
    }

    private static String shortHash(String s) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
