package dev.attune.kernels.ptx;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The PTX modules on the classpath under {@value #RESOURCE_DIR}, as described by their manifest
 * ({@value #MANIFEST_FILE}, written by {@code kernels/src/main/cuda/build-ptx.sh}).
 *
 * <p>Lifecycle: {@link #get()} reads the manifest of this jar once, on first call, and keeps the
 * outcome (the instance, or the failure) for the life of the class loader. {@link #load} reads
 * another copy now, for tests and tools. PTX text is read from the classpath on every
 * {@link #ptxText} call and not kept: a backend loads each module once.
 *
 * <p>Threading: immutable after construction; safe to share.
 *
 * <p>Failure: a missing, unreadable or inconsistent manifest, an unknown module, or PTX whose
 * bytes differ from the manifest's hash is a {@link PtxManifestException} naming the resource.
 * Nothing here touches JCuda or a GPU.
 */
public final class ShippedPtx {

    /** Where the PTX and the manifest live on the classpath. */
    public static final String RESOURCE_DIR = "dev/attune/kernels/ptx/";
    /** The manifest's file name in {@link #RESOURCE_DIR}. */
    public static final String MANIFEST_FILE = "manifest.json";
    /** The manifest format this class reads. */
    public static final int FORMAT = 1;

    private final ClassLoader loader;
    private final String dir;
    private final Map<String, PtxModuleInfo> modules;

    private ShippedPtx(ClassLoader loader, String dir, Map<String, PtxModuleInfo> modules) {
        this.loader = loader;
        this.dir = dir;
        this.modules = modules;
    }

    /** The PTX shipped in this jar; read once. */
    public static ShippedPtx get() {
        if (Shipped.FAILURE != null) {
            throw new PtxManifestException(Shipped.FAILURE.getMessage(), Shipped.FAILURE);
        }
        return Shipped.INSTANCE;
    }

    /**
     * Reads the manifest at {@code resourceDir + "manifest.json"} from {@code loader} now.
     *
     * @param resourceDir a classpath directory ending in {@code /}, e.g. {@link #RESOURCE_DIR}
     */
    public static ShippedPtx load(ClassLoader loader, String resourceDir) {
        String where = resourceDir + MANIFEST_FILE;
        JsonNode root;
        try (InputStream in = loader.getResourceAsStream(where)) {
            if (in == null) {
                throw new PtxManifestException("the PTX manifest " + where
                        + " is not on the classpath; build the PTX with" + " kernels/src/main/cuda/build-ptx.sh");
            }
            root = mapper().readTree(in);
        } catch (IOException e) {
            throw new PtxManifestException("cannot read the PTX manifest " + where + ": " + e.getMessage(), e);
        }
        int format = root.path("format").asInt(-1);
        if (format != FORMAT) {
            throw new PtxManifestException("the PTX manifest " + where + " has format " + root.path("format")
                    + "; this build reads format " + FORMAT);
        }
        JsonNode list = root.path("modules");
        if (!list.isArray() || list.isEmpty()) {
            throw new PtxManifestException("the PTX manifest " + where + " lists no modules");
        }
        Map<String, PtxModuleInfo> modules = new LinkedHashMap<>();
        for (JsonNode node : list) {
            PtxModuleInfo info;
            try {
                info = mapper().treeToValue(node, PtxModuleInfo.class);
            } catch (IOException | IllegalArgumentException e) {
                throw new PtxManifestException(
                        "the PTX manifest " + where + " has a bad module entry " + node.path("module") + ": "
                                + e.getMessage(),
                        e);
            }
            if (info.file().contains("/") || info.file().contains("\\")) {
                throw new PtxManifestException("the PTX manifest " + where + ": module " + info.module()
                        + " names a file outside its directory: " + info.file());
            }
            if (modules.putIfAbsent(info.module(), info) != null) {
                throw new PtxManifestException(
                        "the PTX manifest " + where + " lists module " + info.module() + " twice");
            }
        }
        return new ShippedPtx(loader, resourceDir, Collections.unmodifiableMap(modules));
    }

    /** Every module, in manifest (build table) order. */
    public List<PtxModuleInfo> modules() {
        return List.copyOf(modules.values());
    }

    public Optional<PtxModuleInfo> find(String module) {
        return Optional.ofNullable(modules.get(module));
    }

    /** The module called {@code name}; a {@link PtxManifestException} listing the modules there are otherwise. */
    public PtxModuleInfo module(String name) {
        PtxModuleInfo info = modules.get(name);
        if (info == null) {
            throw new PtxManifestException(
                    "no PTX module '" + name + "' is shipped; modules: " + String.join(", ", modules.keySet()));
        }
        return info;
    }

    /** The oldest CUDA driver version (e.g. 11000 for 11.0) that loads the module. */
    public int minDriverVersion(String module) {
        return module(module).minDriverVersion();
    }

    /** The module's PTX text, after checking its bytes against the manifest's SHA-256. */
    public String ptxText(String module) {
        PtxModuleInfo info = module(module);
        String where = dir + info.file();
        byte[] bytes;
        try (InputStream in = loader.getResourceAsStream(where)) {
            if (in == null) {
                throw new PtxManifestException("PTX module " + module + ": " + where + " is not on the classpath");
            }
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new PtxManifestException(
                    "PTX module " + module + ": cannot read " + where + ": " + e.getMessage(), e);
        }
        String actual = sha256(bytes);
        if (!actual.equals(info.ptxSha256())) {
            throw new PtxManifestException("PTX module " + module + ": " + where + " has SHA-256 " + actual
                    + " but the manifest says " + info.ptxSha256() + "; rebuild with build-ptx.sh");
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** Lower-case hex SHA-256 of {@code bytes}. */
    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    private static ObjectMapper mapper() {
        return Mapper.INSTANCE;
    }

    private static final class Mapper {
        static final ObjectMapper INSTANCE = new ObjectMapper()
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES);
    }

    /** Holder: the jar's manifest is read when {@link #get()} is first called, never at class loading. */
    private static final class Shipped {
        static final ShippedPtx INSTANCE;
        static final PtxManifestException FAILURE;

        static {
            ShippedPtx instance = null;
            PtxManifestException failure = null;
            try {
                instance = load(ShippedPtx.class.getClassLoader(), RESOURCE_DIR);
            } catch (PtxManifestException e) {
                failure = e;
            } catch (RuntimeException | LinkageError e) {
                failure = new PtxManifestException(
                        "cannot read the PTX manifest " + RESOURCE_DIR + MANIFEST_FILE + ": " + e, e);
            }
            INSTANCE = instance;
            FAILURE = failure;
        }
    }
}
