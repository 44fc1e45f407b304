package dev.attune.model.io;

import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Copies a model directory from any Hadoop FileSystem into the local cache, once per host and
 * version: the cache key is the URI plus the newest modification time and total size of the
 * files, so an updated model is fetched anew. The copy is made under a file lock into a private
 * directory and renamed into place atomically; it is checked against its manifest on every fetch
 * and copied again when damaged (see {@link CacheEntry}). Only the files a model needs are copied (no
 * sub-directories other than sentence-transformers' module folders).
 */
final class HadoopModelFetcher {

    private HadoopModelFetcher() {}

    /** Copies {@code uri}; {@code hadoopConf} holds Hadoop options (the {@code spark.hadoop.*} settings, prefix removed). */
    static java.nio.file.Path fetch(
            String uri, java.nio.file.Path cacheRoot, java.util.Map<String, String> hadoopConf) {
        try {
            Path src = new Path(uri);
            Configuration conf = new Configuration();
            hadoopConf.forEach(conf::set);
            FileSystem fs = src.getFileSystem(conf);
            if (!fs.getFileStatus(src).isDirectory()) {
                throw new ModelFormatException("model '" + uri + "' is not a directory");
            }
            long newest = 0;
            long total = 0;
            for (FileStatus s : fs.listStatus(src)) {
                newest = Math.max(newest, s.getModificationTime());
                total += s.getLen();
            }
            String key = HexFormat.of()
                    .formatHex(
                            MessageDigest.getInstance("SHA-256")
                                    .digest((uri + "|" + newest + "|" + total + "|v2")
                                            .getBytes(StandardCharsets.UTF_8)),
                            0,
                            8);
            // v2: copies carry CacheEntry's manifest; v1 copies, written without one, are left alone.
            return CacheEntry.resolve(
                    cacheRoot.resolve(key),
                    "fetch model '" + uri + "'",
                    "fetching it again",
                    target -> copyTree(fs, src, target, 0));
        } catch (IOException | java.security.NoSuchAlgorithmException e) {
            throw new ModelFormatException("cannot fetch model '" + uri + "': " + e.getMessage(), e);
        }
    }

    /**
     * The family of the remote model {@code uri} from its {@code config.json}, read in place (nothing
     * is fetched); a missing directory or file is a {@link ModelFormatException} naming it.
     */
    static dev.attune.model.ModelFamily family(String uri, java.util.Map<String, String> hadoopConf) {
        try {
            Path src = new Path(uri);
            Configuration conf = new Configuration();
            hadoopConf.forEach(conf::set);
            FileSystem fs = src.getFileSystem(conf);
            if (!fs.exists(src) || !fs.getFileStatus(src).isDirectory()) {
                throw new ModelFormatException("model '" + uri + "' is not a directory");
            }
            Path config = new Path(src, "config.json");
            if (!fs.exists(config)) {
                throw new ModelFormatException(config + ": no config.json in the model directory");
            }
            com.fasterxml.jackson.databind.JsonNode root;
            try (InputStream in = fs.open(config)) {
                root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(in);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new ModelFormatException(config + ": not valid JSON: " + e.getOriginalMessage(), e);
            }
            if (root == null || !root.isObject()) {
                throw new ModelFormatException(config + ": not a JSON object");
            }
            return dev.attune.model.ModelFamily.of(root, config.toString());
        } catch (IOException e) {
            throw new ModelFormatException("cannot read model '" + uri + "': " + e.getMessage(), e);
        }
    }

    private static void copyTree(FileSystem fs, Path src, java.nio.file.Path dst, int depth) throws IOException {
        Files.createDirectories(dst);
        for (FileStatus s : fs.listStatus(src)) {
            String name = s.getPath().getName();
            if (name.equals(".") || name.equals("..") || name.contains("/") || name.contains("\\")) {
                continue;
            }
            if (s.isDirectory()) {
                if (depth == 0) {
                    copyTree(fs, s.getPath(), dst.resolve(name), depth + 1);
                }
                continue;
            }
            try (InputStream in = fs.open(s.getPath())) {
                Files.copy(in, dst.resolve(name));
            }
        }
    }
}
