package dev.attune.app.job;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import dev.attune.app.input.Utf8Lines;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.input.PortableDataStream;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * How the scoring job reads JSON-lines and CSV files so that no record is lost or merged silently.
 *
 * <p>JSON lines: every file is read line by line (one task per file; gzip and other Hadoop codecs by
 * file name), and each non-blank line must be valid UTF-8, one JSON object, with the id column
 * present and the text column a string or null. A line that is not gets a message
 * {@code FILE:LINE: why} in {@link #ERROR_COL} and a null text (its id is kept when the line is an
 * object); the good lines are parsed by Spark's JSON reader with the schema it infers from them, so
 * they read as with {@code spark.read().json}. The returned dataset has one row per line, with
 * {@link #FILE}, {@link #LINE} and {@link #BLANK} beside the record's columns; blank lines are to
 * be counted and dropped.
 *
 * <p>CSV: Spark's reader merges the rest of a file into one field after a quote that is never
 * closed. {@link #checkCsv} scans each file's quoting first (RFC 4180, {@code "} escaped as
 * {@code ""}) and throws, naming file and line, for a quoted field that never closes or text after a
 * closing quote.
 */
final class JobInput {

    /** Why a record could not be read (file and line), or null. */
    static final String ERROR_COL = "attune_input_error";

    /** The file and line of a JSON-lines record (kept beside the record's columns). */
    static final String FILE = "attune_input_file";

    static final String LINE = "attune_input_line";
    private static final String VALUE = "attune_input_value";

    /** True for a blank line: counted, then dropped (it is not a record). */
    static final String BLANK = "attune_input_blank";

    private JobInput() {}

    /** The JSON-lines files at {@code path}, checked line by line (see the class comment). */
    static Dataset<Row> jsonLines(SparkSession spark, String path, String idCol, String textCol) {
        StructType lines = new StructType()
                .add(FILE, DataTypes.StringType, false)
                .add(LINE, DataTypes.LongType, false)
                .add(VALUE, DataTypes.StringType, true)
                .add(ERROR_COL, DataTypes.StringType, true);
        var rdd = JavaSparkContext.fromSparkContext(spark.sparkContext())
                .binaryFiles(path)
                .flatMap(f -> checkedLines(f._1(), f._2(), idCol, textCol));
        Dataset<Row> raw = spark.createDataFrame(rdd, lines);
        Dataset<String> values =
                raw.filter(functions.col(VALUE).isNotNull()).select(VALUE).as(Encoders.STRING());
        StructType schema = spark.read().json(values).schema();
        Dataset<Row> parsed = raw.select(
                functions.from_json(functions.col(VALUE), schema).as("j"),
                functions.col(ERROR_COL),
                functions.col(FILE),
                functions.col(LINE),
                functions.col(VALUE));
        List<Column> cols = new ArrayList<>();
        for (String f : schema.fieldNames()) {
            Column c = functions.col("j.`" + f + "`");
            if (f.equals(textCol)) {
                c = functions.when(functions.col(ERROR_COL).isNull(), c.cast(DataTypes.StringType));
            }
            cols.add(c.as(f));
        }
        cols.add(functions.col(ERROR_COL));
        cols.add(functions.col(FILE));
        cols.add(functions.col(LINE));
        cols.add(functions
                .col(VALUE)
                .isNull()
                .and(functions.col(ERROR_COL).isNull())
                .as(BLANK));
        return parsed.select(cols.toArray(new Column[0]));
    }

    /** One file's lines as (file, line, value or null, error or null); both null for a blank line. */
    private static Iterator<Row> checkedLines(String file, PortableDataStream stream, String idCol, String textCol)
            throws IOException {
        InputStream in = open(file, stream);
        Utf8Lines lines = new Utf8Lines(in);
        ObjectReader json =
                new ObjectMapper().readerFor(JsonNode.class).with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        return new Iterator<>() {
            private long line;
            private Row next;
            private boolean done;

            @Override
            public boolean hasNext() {
                try {
                    while (next == null && !done) {
                        Utf8Lines.Line l = lines.next();
                        if (l == null) {
                            done = true;
                            in.close();
                        } else {
                            line = l.number();
                            next = check(l);
                        }
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(file + ":" + (line + 1) + ": " + e.getMessage(), e);
                }
                return next != null;
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                Row r = next;
                next = null;
                return r;
            }

            /** The row of a line; a blank one (not a record, as Spark's reader skips it) has neither value nor error. */
            private Row check(Utf8Lines.Line l) {
                String where = file + ":" + line + ": ";
                if (l.error() != null) {
                    return RowFactory.create(file, line, null, where + l.error());
                }
                String s = l.text();
                if (s.isBlank()) {
                    return RowFactory.create(file, line, null, null);
                }
                JsonNode n;
                try {
                    n = json.readTree(s);
                } catch (JsonProcessingException e) {
                    return RowFactory.create(file, line, null, where + "not valid JSON: " + e.getOriginalMessage());
                } catch (IOException e) {
                    return RowFactory.create(file, line, null, where + "not valid JSON: " + e.getMessage());
                }
                if (n == null || !n.isObject()) {
                    return RowFactory.create(file, line, null, where + "expected a JSON object, got " + s);
                }
                String error = null;
                JsonNode text = n.get(textCol);
                if (!n.has(idCol)) {
                    error = where + "missing \"" + idCol + "\"";
                } else if (text == null) {
                    error = where + "missing \"" + textCol + "\"";
                } else if (!text.isTextual() && !text.isNull()) {
                    error = where + "\"" + textCol + "\" must be a string or null, got " + text.getNodeType();
                }
                return RowFactory.create(file, line, s, error);
            }
        };
    }

    private static InputStream open(String file, PortableDataStream stream) {
        InputStream raw = stream.open();
        CompressionCodec codec =
                new CompressionCodecFactory(stream.getConfiguration()).getCodec(new org.apache.hadoop.fs.Path(file));
        try {
            return new BufferedInputStream(codec == null ? raw : codec.createInputStream(raw), 1 << 16);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot decompress: " + e.getMessage(), e);
        }
    }

    /**
     * Scans every CSV file at {@code path} for quoting that Spark's reader would resolve by merging
     * records, and returns the number of files; throws a {@link JobRefusal} naming the first
     * bad file and line.
     */
    static long checkCsv(SparkSession spark, String path) {
        List<String> problems = JavaSparkContext.fromSparkContext(spark.sparkContext())
                .binaryFiles(path)
                .map(f -> csvProblem(f._1(), open(f._1(), f._2())))
                .collect();
        problems.stream().filter(p -> p != null).sorted().findFirst().ifPresent(p -> {
            throw new JobRefusal(p);
        });
        return problems.size();
    }

    /** The first quoting problem in one CSV file as "FILE:LINE: why", or null. */
    static String csvProblem(String file, InputStream in) throws IOException {
        final int start = 0, unquoted = 1, quoted = 2, quoteInQuoted = 3;
        int state = start;
        long line = 1;
        long opened = 0;
        try (in) {
            int b;
            while ((b = in.read()) >= 0) {
                switch (state) {
                    case start, unquoted -> {
                        if (b == '"' && state == start) {
                            state = quoted;
                            opened = line;
                        } else if (b == ',' || b == '\n') {
                            state = start;
                        } else if (b != '\r') {
                            state = unquoted;
                        }
                    }
                    case quoted -> {
                        if (b == '"') {
                            state = quoteInQuoted;
                        }
                    }
                    default -> {
                        if (b == '"') {
                            state = quoted; // an escaped quote
                        } else if (b == ',' || b == '\n') {
                            state = start;
                        } else if (b != '\r') {
                            return file + ":" + line + ": text after the closing quote of the field opened at line "
                                    + opened + " (a quote inside a quoted field must be doubled)";
                        }
                    }
                }
                if (b == '\n') {
                    line++;
                }
            }
        }
        if (state == quoted) {
            return file + ":" + opened + ": the quoted field opened here is never closed, so every later line of "
                    + "the file would be read into it";
        }
        return null;
    }
}
