package dev.attune.app.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.time.Instant;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

/**
 * One scoring run at a time per output: {@code OUTPUT/_attune/lock}, created exclusively, names the
 * run that holds it (host, process id, start time) and is touched every {@link #HEARTBEAT_MS} while
 * the run lives. A second run on the same output is refused, naming the holder.
 *
 * <p>A lock left by a run that was killed is taken over: at once when its process is gone from this
 * host, otherwise when it has not been touched for {@link #LEASE_MS} (its host or process died).
 * A run that merely lost its heartbeat for that long (a frozen driver) could lose its lock; the
 * settings check and chunk markers still keep each id's rows exactly once.
 *
 * <p>Lifecycle: {@link #acquire} before anything is written, {@link #close} (in a finally) when the
 * run ends; {@code close} removes the lock only if this run still holds it. Not shared between threads.
 */
final class OutputLock implements AutoCloseable {

    static final long HEARTBEAT_MS = 20_000;
    static final long LEASE_MS = 120_000;

    private final FileSystem fs;
    private final Path file;
    private final String owner;
    private final ScheduledExecutorService heartbeat;

    private OutputLock(FileSystem fs, Path file, String owner) {
        this.fs = fs;
        this.file = file;
        this.owner = owner;
        this.heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "attune-output-lock");
            t.setDaemon(true);
            return t;
        });
        heartbeat.scheduleWithFixedDelay(this::touch, HEARTBEAT_MS, HEARTBEAT_MS, TimeUnit.MILLISECONDS);
    }

    /**
     * Takes the lock of the output whose metadata directory is {@code meta}.
     *
     * @throws JobRefusal when a live run holds it
     */
    static OutputLock acquire(FileSystem fs, Path meta, String output) throws IOException {
        fs.mkdirs(meta);
        Path file = new Path(meta, "lock");
        ObjectNode me = new ObjectMapper().createObjectNode();
        String owner = UUID.randomUUID().toString();
        me.put("owner", owner);
        me.put("host", host());
        me.put("pid", ProcessHandle.current().pid());
        me.put("started", Instant.now().toString());
        byte[] bytes = new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(me);
        for (int attempt = 0; attempt < 2; attempt++) {
            if (createExclusively(fs, file, bytes)) {
                return new OutputLock(fs, file, owner);
            }
            String why = staleness(fs, file);
            if (why == null) {
                throw new JobRefusal("output " + output + " is being written by another run (" + holder(fs, file)
                        + "; lock " + file + "): wait for it to end; if that run is gone, the lock is taken over "
                        + (LEASE_MS / 1000) + " s after its last heartbeat");
            }
            fs.delete(file, false);
        }
        throw new JobRefusal("output " + output + ": cannot take the lock " + file + " (another run took it first)");
    }

    /** Creates {@code file} with {@code bytes} only if it does not exist, atomically on local disks and HDFS. */
    private static boolean createExclusively(FileSystem fs, Path file, byte[] bytes) throws IOException {
        if (fs instanceof LocalFileSystem local) {
            java.nio.file.Path p = local.pathToFile(file).toPath();
            try {
                Files.write(p, bytes, java.nio.file.StandardOpenOption.CREATE_NEW);
                return true;
            } catch (FileAlreadyExistsException e) {
                return false;
            }
        }
        try (OutputStream os = fs.create(file, false)) {
            os.write(bytes);
            return true;
        } catch (org.apache.hadoop.fs.FileAlreadyExistsException e) {
            return false;
        } catch (IOException e) {
            if (fs.exists(file)) {
                return false;
            }
            throw e;
        }
    }

    /** Why the existing lock is stale, or null when its run may be alive. */
    private static String staleness(FileSystem fs, Path file) throws IOException {
        long age;
        JsonNode held;
        try {
            age = System.currentTimeMillis() - fs.getFileStatus(file).getModificationTime();
            try (var in = fs.open(file)) {
                held = new ObjectMapper().readTree(in);
            }
        } catch (java.io.FileNotFoundException e) {
            return "gone"; // released meanwhile
        } catch (IOException e) {
            return "unreadable"; // a lock cut short by a kill while it was written
        }
        if (held == null || !held.has("pid")) {
            return "unreadable";
        }
        if (held.path("host").asText().equals(host())
                && ProcessHandle.of(held.path("pid").asLong()).isEmpty()) {
            return "its process is gone";
        }
        return age > LEASE_MS ? "no heartbeat for " + age / 1000 + " s" : null;
    }

    private static String holder(FileSystem fs, Path file) {
        try (var in = fs.open(file)) {
            JsonNode n = new ObjectMapper().readTree(in);
            return "process " + n.path("pid").asText() + " on " + n.path("host").asText() + ", started "
                    + n.path("started").asText();
        } catch (IOException e) {
            return "a run that could not be identified";
        }
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown-host";
        }
    }

    private void touch() {
        try {
            fs.setTimes(file, System.currentTimeMillis(), -1);
        } catch (IOException | RuntimeException ignored) {
            // the next heartbeat tries again; a lock not touched for the lease may be taken over
        }
    }

    @Override
    public void close() throws IOException {
        heartbeat.shutdownNow();
        try (var in = fs.open(file)) {
            if (!owner.equals(new ObjectMapper().readTree(in).path("owner").asText())) {
                return; // taken over after this run lost its heartbeat: not ours to remove
            }
        } catch (IOException e) {
            return;
        }
        fs.delete(file, false);
    }
}
