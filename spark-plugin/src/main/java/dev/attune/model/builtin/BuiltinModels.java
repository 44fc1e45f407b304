package dev.attune.model.builtin;

import dev.attune.model.ModelFormatException;
import dev.attune.model.onnx.OnnxBertImporter;
import dev.attune.model.onnx.OnnxInitializers;
import dev.attune.model.tokenizer.TextTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Resolves {@code builtin:NAME} to a Hugging Face model directory in the local cache, converting
 * the ONNX export from its Maven jar the first time.
 *
 * <p>Concurrency: several JVMs on one host (Spark executors) may resolve the same model at once.
 * The conversion runs under an exclusive file lock, writes into a private temporary directory and
 * appears under its final name by one atomic rename, so a reader sees either no directory or a
 * complete one. The cache key includes the jar's URL, so a new jar version converts anew.
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

    public static synchronized Path resolve(BuiltinModel model, Path cacheRoot) {
        URL onnx = resource(model, model.onnxResource());
        URL tok = resource(model, model.tokenizerResource());
        Path dir = cacheRoot.resolve("models").resolve(model.id() + "-" + shortHash(onnx + "|" + tok + "|v1"));
        if (Files.isDirectory(dir)) {
            return dir;
        }
        try {
            Files.createDirectories(dir.getParent());
            Path lockFile = dir.resolveSibling(dir.getFileName() + ".lock");
            try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    FileLock ignored = ch.lock()) {
                if (Files.isDirectory(dir)) {
                    return dir; // another JVM converted it while we waited
                }
                Path tmp = dir.resolveSibling(dir.getFileName() + ".tmp-" + UUID.randomUUID());
                Files.createDirectories(tmp);
                try {
                    convert(model, onnx, tok, tmp);
                    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                } finally {
                    deleteTree(tmp);
                }
            }
            return dir;
        } catch (IOException e) {
            throw new ModelFormatException(
                    "cannot prepare built-in model " + model.uri() + " in " + dir + ": " + e.getMessage(), e);
        }
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

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(q);
            }
        }
    }
}
