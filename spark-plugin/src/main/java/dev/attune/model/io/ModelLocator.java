package dev.attune.model.io;

import dev.attune.model.ModelCheck;
import dev.attune.model.ModelFamily;
import dev.attune.model.ModelFormatException;
import dev.attune.model.builtin.BuiltinModel;
import dev.attune.model.builtin.BuiltinModels;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Turns a model string into a local model directory.
 *
 * <ul>
 *   <li>{@code builtin:NAME}: a model shipped in a Maven jar, converted once into the cache.</li>
 *   <li>a plain path or a {@code file:} URI: used in place.</li>
 *   <li>any other URI ({@code hdfs:}, {@code s3a:}, {@code abfs:}, ...): read through Hadoop's
 *   FileSystem and copied once into the local cache, so weights can be memory-mapped.</li>
 * </ul>
 * Hadoop classes are only loaded for the last case.
 */
public final class ModelLocator {

    private ModelLocator() {}

    public static Path resolve(String model) {
        return resolve(model, java.util.Map.of());
    }

    /**
     * As {@link #resolve(String)}, with Hadoop options for remote models (for example S3
     * credentials given as {@code spark.hadoop.fs.s3a.*}: pass them without the {@code spark.hadoop.} prefix).
     */
    public static Path resolve(String model, java.util.Map<String, String> hadoopConf) {
        if (model == null || model.isBlank()) {
            throw new ModelFormatException("no model given: pass a model directory, a Hadoop URI or one of "
                    + java.util.Arrays.stream(BuiltinModel.values())
                            .map(BuiltinModel::uri)
                            .toList());
        }
        if (model.startsWith(BuiltinModel.SCHEME)) {
            return BuiltinModels.resolve(model);
        }
        String scheme = scheme(model);
        if (scheme == null || scheme.equals("file") || scheme.length() == 1 /* a Windows drive letter */) {
            Path p = scheme == null ? Path.of(model) : Path.of(URI.create(model));
            if (!Files.isDirectory(p)) {
                throw new ModelFormatException("model directory '" + model + "' does not exist");
            }
            return p;
        }
        return HadoopModelFetcher.fetch(model, BuiltinModels.cacheRoot().resolve("remote"), hadoopConf);
    }

    /**
     * Checks the model {@code model} names without loading or converting it (see {@link ModelCheck}):
     * a built-in name must exist; a local directory is checked whole; a remote one must be a
     * directory holding {@code config.json} (its files are checked where they are fetched).
     *
     * @return the model's family and a description, or for a remote model an empty description
     * @throws ModelFormatException naming the model and what is wrong
     */
    public static ModelCheck.Result check(String model, java.util.Map<String, String> hadoopConf) {
        if (model == null || model.isBlank()) {
            resolve(model, hadoopConf); // the "no model given" message
        }
        if (model.startsWith(BuiltinModel.SCHEME)) {
            if (BuiltinModel.find(model).isEmpty()) {
                BuiltinModels.resolve(model); // an unknown name: the error lists the built-in models
            }
            BuiltinModel b = BuiltinModel.find(model).orElseThrow();
            return new ModelCheck.Result(ModelFamily.ENCODER, "built-in " + b.id());
        }
        String scheme = scheme(model);
        if (scheme == null || scheme.equals("file") || scheme.length() == 1) {
            return ModelCheck.check(resolve(model, hadoopConf));
        }
        return new ModelCheck.Result(HadoopModelFetcher.family(model, hadoopConf), "");
    }

    /** Whether {@code model} names a local directory (a plain path or a {@code file:} URI). */
    public static boolean isLocalPath(String model) {
        if (model == null || model.isBlank() || model.startsWith(BuiltinModel.SCHEME)) {
            return false;
        }
        String scheme = scheme(model);
        return scheme == null || scheme.equals("file") || scheme.length() == 1;
    }

    /** Whether the local directory {@code model} exists on this host. */
    public static boolean existsLocally(String model) {
        String scheme = scheme(model);
        return Files.isDirectory(scheme == null || scheme.length() == 1 ? Path.of(model) : Path.of(URI.create(model)));
    }

    private static String scheme(String model) {
        try {
            return new URI(model).getScheme();
        } catch (URISyntaxException e) {
            return null;
        }
    }
}
