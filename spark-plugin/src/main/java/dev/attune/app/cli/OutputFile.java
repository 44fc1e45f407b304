package dev.attune.app.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.UUID;

/**
 * The one output file of a command-line command ({@code embed}, {@code loglik}), checked before any
 * work starts and written so that a reader never sees half of it.
 *
 * <p>{@link #prepare} refuses, with one line naming the path: an output that is the input (or lies
 * inside it, after resolving links and {@code ..}), even with {@code --overwrite}; an output that is
 * a directory; an output whose directory does not exist; an existing output without
 * {@code --overwrite}. The rows go to a temporary file in the output's own directory (so the final
 * rename stays on one file system and is atomic); {@link #commit} renames it over the output, and
 * {@link #close} removes it when the command failed before committing. The temporary file is made
 * with the default permissions, so the output's mode follows the user's umask.
 *
 * <p>Not thread-safe: one command, one thread.
 */
final class OutputFile implements AutoCloseable {

    private final Path output;
    private final Path temp;
    private boolean committed;

    private OutputFile(Path output, Path temp) {
        this.output = output;
        this.temp = temp;
    }

    /**
     * Checks {@code output} against {@code input} and the file system and creates the temporary file.
     *
     * @throws CliArgs.UsageException for an output that may not be written (exit code 2)
     * @throws CliFailure             when the temporary file cannot be created (exit code 1)
     */
    static OutputFile prepare(String command, Path input, Path output, boolean overwrite) {
        Path abs = check(command, input, output, overwrite);
        Path dir = abs.getParent();
        Path temp = dir.resolve("." + abs.getFileName() + "." + UUID.randomUUID() + ".partial");
        try {
            Files.createFile(temp); // default attributes: the umask decides the mode
        } catch (IOException e) {
            throw new CliFailure(command + ": cannot write in '" + dir + "': " + e);
        }
        return new OutputFile(abs, temp);
    }

    /**
     * The refusals of {@link #prepare} without creating anything, for a command that wants to fail
     * before slow work; returns the output's absolute, normalized path.
     */
    static Path check(String command, Path input, Path output, boolean overwrite) {
        Path abs = output.toAbsolutePath().normalize();
        Path dir = abs.getParent();
        if (Files.isDirectory(output)) {
            throw new CliArgs.UsageException(
                    command + ": output '" + output + "' is a directory; give the path of a file to write");
        }
        if (dir == null || !Files.isDirectory(dir)) {
            throw new CliArgs.UsageException(command + ": the directory of output '" + output + "' does not exist");
        }
        Path real;
        Path realInput;
        try {
            real = dir.toRealPath().resolve(abs.getFileName());
            if (Files.exists(real)) {
                real = real.toRealPath();
            }
            realInput = input.toRealPath();
        } catch (IOException e) {
            throw new CliFailure(command + ": cannot resolve '" + output + "': " + e.getMessage());
        }
        if (real.equals(realInput) || real.startsWith(realInput)) {
            throw new CliArgs.UsageException(command + ": output '" + output + "' is the input"
                    + (real.equals(realInput) ? "" : " or inside it") + "; choose another path");
        }
        if (Files.exists(real) && !overwrite) {
            throw new CliArgs.UsageException(command + ": output '" + output
                    + "' already exists; remove it, choose another path or pass --overwrite");
        }
        return abs;
    }

    /** A stream over the temporary file; the caller closes it before {@link #commit}. */
    OutputStream open() throws IOException {
        return Files.newOutputStream(temp);
    }

    /** Renames the temporary file over the output in one step. */
    void commit() throws IOException {
        try {
            Files.move(temp, output, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp, output, StandardCopyOption.REPLACE_EXISTING);
        }
        committed = true;
    }

    /** Removes the temporary file unless it was committed. */
    @Override
    public void close() throws IOException {
        if (!committed) {
            Files.deleteIfExists(temp);
        }
    }
}
