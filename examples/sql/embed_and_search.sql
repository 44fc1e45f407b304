-- Attune from Spark SQL. Start spark-sql (or any session) with
--   --conf spark.plugins=dev.attune.spark.AttunePlugin
--   --conf spark.sql.extensions=dev.attune.spark.sql.AttuneExtensions
-- and the Attune jars on the classpath (see docs/deploying.md).

CREATE OR REPLACE TEMPORARY VIEW docs AS
SELECT * FROM VALUES
  (1, 'The laptop runs hot under load.'),
  (2, 'This pasta recipe needs more garlic.'),
  (3, 'The striker scored twice in the second half.')
AS docs(id, text);

-- One embedding per row, with the default model (spark.attune.model).
CREATE OR REPLACE TEMPORARY VIEW doc_vectors AS
SELECT id, text, attune_embed(text) AS v FROM docs;

-- A second model by name.
SELECT id, size(attune_embed(text, 'builtin:bge-small-en-v1.5')) AS dims FROM docs;

-- Nearest document to a question: vectors are normalized, so the dot product is the cosine.
SELECT d.id, d.text,
       aggregate(zip_with(d.v, q.v, (a, b) -> a * b), 0D, (acc, x) -> acc + x) AS cosine
FROM doc_vectors d
CROSS JOIN (SELECT attune_embed('my notebook overheats') AS v) q
ORDER BY cosine DESC
LIMIT 1;
