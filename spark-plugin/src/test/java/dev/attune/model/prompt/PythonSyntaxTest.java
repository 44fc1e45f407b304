package dev.attune.model.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * The source pass before jinjava: what it rewrites (slices, keyword arguments, unary not) and,
 * as much, what it must leave alone (text, strings, comments, raw blocks, dict literals, list
 * literals, {@code not in}, {@code is not}, macro signatures, whitespace control).
 */
class PythonSyntaxTest {

    private static String r(String s) {
        return PythonSyntax.rewrite(s);
    }

    @Test
    void slices() {
        assertEquals("{{ messages.pyslice__(none, none, (-1)) }}", r("{{ messages[::-1] }}"));
        assertEquals("{{ x.pyslice__((1), none, none) }}", r("{{ x[1:] }}"));
        assertEquals("{{ x.pyslice__(none, (-1), none) }}", r("{{ x[:-1] }}"));
        assertEquals("{{ x.pyslice__((a + 1), (b|length), (2)) }}", r("{{ x[a + 1:b|length:2] }}"));
        assertEquals("{{ x.split(',').pyslice__((-1), none, none)[0] }}", r("{{ x.split(',')[-1:][0] }}"));
        assertEquals("{{ x[0] }}{{ x[y[1]] }}", r("{{ x[0] }}{{ x[y[1]] }}"));
        assertEquals("{{ [1, 2][0] }}{{ {'a': 1}['a'] }}", r("{{ [1, 2][0] }}{{ {'a': 1}['a'] }}"));
        assertEquals("{{ x[{'k': 1}['k']] }}", r("{{ x[{'k': 1}['k']] }}"));
    }

    @Test
    void textStringsCommentsAndRawStayAsTheyAre() {
        String text = "text [::-1] f(i=n - 1) not x is y {not a tag} { {";
        assertEquals(text, r(text));
        assertEquals(
                "{{ 'a[::-1]' + \"f(i=1 - 1)\" + 'it\\'s [1:]' }}",
                r("{{ 'a[::-1]' + \"f(i=1 - 1)\" + 'it\\'s [1:]' }}"));
        assertEquals("{# x[::-1] not a is b #}", r("{# x[::-1] not a is b #}"));
        assertEquals(
                "{% raw %}{{ x[::-1] }}{% endraw %}{{ y.pyslice__((1), none, none) }}",
                r("{% raw %}{{ x[::-1] }}{% endraw %}{{ y[1:] }}"));
        assertEquals("{{ '}}' }}", r("{{ '}}' }}"));
    }

    @Test
    void keywordArguments() {
        assertEquals(
                "{%- set ns = namespace(a=(true), i=(messages|length - 1)) %}",
                r("{%- set ns = namespace(a=true, i=messages|length - 1) %}"));
        assertEquals("{{ x|tojson(indent=(4)) }}", r("{{ x|tojson(indent=4) }}"));
        assertEquals("{{ f(a == b, c) }}{{ f(a <= b) }}", r("{{ f(a == b, c) }}{{ f(a <= b) }}"));
        assertEquals(
                "{% macro m(a=1, b='x') %}{{ a }}{% endmacro %}", r("{% macro m(a=1, b='x') %}{{ a }}{% endmacro %}"));
        assertEquals("{% set x = 1 %}", r("{% set x = 1 %}"));
    }

    @Test
    void unaryNotBindsLooserThanTestsAndComparisons() {
        assertEquals("{%- if not (date_string is defined) %}", r("{%- if not date_string is defined %}"));
        assertEquals("{% if not (a == b) and not (c) %}", r("{% if not a == b and not c %}"));
        assertEquals("{{ 'x' if not (n > 3) else 'y' }}", r("{{ 'x' if not n > 3 else 'y' }}"));
        assertEquals("{{ not (not (x)) }}", r("{{ not not x }}"));
        assertEquals("{% if a not in b %}{% if x is not none %}", r("{% if a not in b %}{% if x is not none %}"));
        assertEquals("{{ f(not (a), b) }}", r("{{ f(not a, b) }}"));
        assertEquals("{%- if not (loop.last) -%}", r("{%- if not loop.last -%}"));
        assertEquals("{% for m in ms if not (m.x) %}", r("{% for m in ms if not m.x %}"));
        assertEquals("{% if note and nothing %}", r("{% if note and nothing %}"));
    }

    @Test
    void trailingNewlineAndLineEnds() {
        assertEquals("a\nb", r("a\r\nb\n"));
        assertEquals("a\n", r("a\n\n"));
    }
}
