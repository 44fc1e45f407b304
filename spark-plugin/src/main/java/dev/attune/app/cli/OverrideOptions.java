package dev.attune.app.cli;

import dev.attune.kernels.select.AttentionPath;
import dev.attune.kernels.select.ComputeDtype;
import dev.attune.kernels.select.UserOverrides;
import java.util.Arrays;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/** {@code --attention-path P}, {@code --exclude P,Q} and {@code --dtype D} as selector overrides. */
final class OverrideOptions {

    static final Set<String> NAMES = Set.of("attention-path", "exclude", "dtype");

    private OverrideOptions() {}

    static UserOverrides parse(CliArgs a) {
        try {
            Optional<AttentionPath> forced =
                    Optional.ofNullable(a.get("attention-path", null)).map(AttentionPath::parse);
            Set<AttentionPath> excluded = Arrays.stream(a.get("exclude", "").split(","))
                    .filter(s -> !s.isBlank())
                    .map(AttentionPath::parse)
                    .collect(Collectors.toSet());
            String d = a.get("dtype", "auto");
            Optional<ComputeDtype> dtype = d.equals("auto") ? Optional.empty() : Optional.of(ComputeDtype.parse(d));
            return new UserOverrides(forced, excluded, dtype);
        } catch (IllegalArgumentException e) {
            throw new CliArgs.UsageException(e.getMessage());
        }
    }
}
