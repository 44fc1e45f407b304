package dev.attune.app.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code --name value} and {@code --flag} options of one sub-command, checked against the names
 * the command accepts so a typo is an error, not a silently ignored option.
 */
final class CliArgs {

    private final String command;
    private final Map<String, String> values = new LinkedHashMap<>();
    private final List<String> positional = new ArrayList<>();
    private final Map<String, List<String>> repeated = new LinkedHashMap<>();

    CliArgs(String command, String[] args, int from, Set<String> valued, Set<String> flags) {
        this.command = command;
        for (int i = from; i < args.length; i++) {
            String a = args[i];
            if (a.startsWith("--")) {
                String name = a.substring(2);
                String inline = null;
                int eq = name.indexOf('=');
                if (eq >= 0) {
                    inline = name.substring(eq + 1);
                    name = name.substring(0, eq);
                }
                if (flags.contains(name)) {
                    values.put(name, inline == null ? "true" : inline);
                } else if (valued.contains(name)) {
                    if (inline == null) {
                        if (i + 1 >= args.length) {
                            throw new UsageException(command + ": option --" + name + " needs a value");
                        }
                        inline = args[++i];
                    }
                    values.put(name, inline);
                    repeated.computeIfAbsent(name, k -> new ArrayList<>()).add(inline);
                } else {
                    throw new UsageException(command + ": unknown option --" + name);
                }
            } else {
                positional.add(a);
            }
        }
    }

    String get(String name, String dflt) {
        return values.getOrDefault(name, dflt);
    }

    /** Every value of an option given several times ({@code --stop a --stop b}), in order; empty when absent. */
    List<String> all(String name) {
        return List.copyOf(repeated.getOrDefault(name, List.of()));
    }

    String require(String name) {
        String v = values.get(name);
        if (v == null) {
            throw new UsageException(command + ": missing required option --" + name);
        }
        return v;
    }

    boolean flag(String name) {
        return Boolean.parseBoolean(values.getOrDefault(name, "false"));
    }

    int positiveInt(String name, int dflt) {
        String v = values.get(name);
        if (v == null) {
            return dflt;
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n < 1) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new UsageException(command + ": --" + name + " must be a positive integer, got '" + v + "'");
        }
    }

    List<String> positional() {
        return positional;
    }

    /** A command-line mistake: printed with the usage, exit code 2. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }
}
