package dev.attune.app.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.attune.spark.ml.TextEmbedder;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * {@code bin/attune demo}: the scoring job in Spark local mode on the 3,000-text sample with the
 * built-in all-MiniLM-L6-v2, the device/path table and throughput, then the nearest neighbours of
 * a few questions among the scored texts, so a person sees that the vectors mean something.
 *
 * <p>{@code --simulate T4+A100} gives the local executor simulated GPUs to show per-device paths.
 */
public final class Demo {

    private static final List<String> QUERIES = List.of(
            "My notebook gets really hot and the fan is loud",
            "What should I cook for dinner tonight?",
            "Our team lost the match in the last minute",
            "Is it going to rain this weekend?");

    private Demo() {}

    public static int run(String[] args, PrintStream log) throws IOException {
        Path home = Path.of(System.getProperty("attune.home", "."));
        Path sample = home.resolve("examples/data/sample.jsonl");
        Path out = home.resolve("examples/target/demo-output");
        String simulate = null;
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--simulate") && i + 1 < args.length) {
                simulate = "driver=" + args[++i];
            } else {
                log.println("usage: attune demo [--simulate T4+A100]");
                return 2;
            }
        }
        deleteTree(out);
        List<String> jobArgs = new ArrayList<>(List.of(
                "--input",
                sample.toString(),
                "--output",
                out.toString(),
                "--master",
                "local[*]",
                "--chunks",
                "4",
                "--chunks-per-job",
                "4",
                "--with-path-device"));
        if (simulate != null) {
            jobArgs.addAll(List.of("--simulate-devices", simulate));
        }
        ScoringJob.Options o = ScoringJob.parse(jobArgs.toArray(new String[0]));
        SparkSession spark = ScoringJob.session(o);
        spark.sparkContext().setLogLevel("WARN");
        try {
            log.println("attune demo: scoring " + sample + " with builtin:all-MiniLM-L6-v2 in Spark local mode");
            ScoringJob.Summary s = ScoringJob.execute(spark, o, log);
            if (s == null) {
                return 1;
            }
            neighbours(spark, sample, out, log);
            return 0;
        } finally {
            spark.stop();
        }
    }

    private static void neighbours(SparkSession spark, Path sample, Path out, PrintStream log) throws IOException {
        ObjectMapper json = new ObjectMapper();
        Map<Long, JsonNode> input = new HashMap<>();
        for (String line : Files.readAllLines(sample)) {
            JsonNode n = json.readTree(line);
            input.put(n.get("id").asLong(), n);
        }
        List<Row> scored =
                spark.read().parquet(out.toString()).select("id", "embedding").collectAsList();
        List<Row> q = new ArrayList<>();
        for (int i = 0; i < QUERIES.size(); i++) {
            q.add(RowFactory.create((long) i, QUERIES.get(i)));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
        List<Row> qv = new TextEmbedder()
                .transform(spark.createDataFrame(q, schema))
                .orderBy("id")
                .collectAsList();
        log.println();
        log.println("attune demo: nearest neighbours (cosine similarity) among the scored texts:");
        for (Row query : qv) {
            List<Float> a = query.getList(2);
            record Hit(long id, double score) {}
            List<Hit> hits = new ArrayList<>();
            for (Row r : scored) {
                List<Float> b = r.getList(1);
                double dot = 0;
                for (int c = 0; c < a.size(); c++) {
                    dot += a.get(c) * b.get(c);
                }
                hits.add(new Hit(r.getLong(0), dot));
            }
            hits.sort(Comparator.comparingDouble(Hit::score).reversed());
            log.println("  \"" + query.getString(1) + "\"");
            java.util.Set<String> shown = new java.util.HashSet<>();
            for (Hit h : hits) {
                JsonNode n = input.get(h.id());
                String text = n.get("text").asText();
                if (!shown.add(text)) {
                    continue; // the sample repeats some sentences
                }
                log.printf(
                        "    %.3f  [%s] %s%n",
                        h.score(), n.get("topic").asText(), text.length() > 90 ? text.substring(0, 90) + "..." : text);
                if (shown.size() == 3) {
                    break;
                }
            }
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(x);
            }
        }
    }
}
