using System.Globalization;
using System.Text.Json;
using Tern.Runtime.Grammar;
using GrammarRules = Tern.Runtime.Grammar.Grammar;

namespace Tern.Runtime.Tests.Grammar;

public sealed class JsonSchemaGrammarTests
{
    private static GrammarRules Compile(string schema)
    {
        using var doc = JsonDocument.Parse(schema);
        return JsonSchemaGrammar.FromSchema(doc.RootElement);
    }

    /// <summary>Each valid example is accepted by the grammar and by the validator; each invalid one refused by the grammar.</summary>
    private static void Check(string schema, string[] valid, string[] invalid)
    {
        var g = Compile(schema);
        foreach (var v in valid)
        {
            Assert.True(SchemaValidator.IsValid(schema, v), $"test example is not valid: {v}");
            Assert.True(GrammarMatcher.Matches(g, v), $"grammar refused {v}\n{g.Source}");
        }

        foreach (var v in invalid)
            Assert.False(GrammarMatcher.Matches(g, v), $"grammar accepted {v}\n{g.Source}");
    }

    [Fact]
    public void Nested_objects_with_required_and_no_additional_properties() => Check(
        """{"type":"object","properties":{"name":{"type":"string","maxLength":10},"address":{"type":"object","properties":{"city":{"type":"string"},"zip":{"type":"integer"}},"required":["city"],"additionalProperties":false}},"required":["name","address"],"additionalProperties":false}""",
        ["""{"name":"a","address":{"city":"x"}}""", """{"name":"a","address":{"city":"x","zip":12}}""", "{ \"name\": \"Ann\",\n  \"address\": {\"city\": \"\\u00e9\\n\"} }"],
        ["""{"name":"a"}""", """{"name":"a","address":{"city":"x"},"extra":1}""", """{"name":1,"address":{"city":"x"}}""",
         """{"name":"12345678901","address":{"city":"x"}}""", """{"address":{"city":"x"},"name":"a"}""", """{"name":"a","address":{"city":"x","zip":1.5}}"""]);

    [Fact]
    public void Optional_properties_may_be_left_out_in_any_subset_but_keep_their_order() => Check(
        """{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"boolean"},"c":{"type":"null"}}}""",
        ["{}", """{"a":1}""", """{"b":true,"c":null}""", """{"a":1,"c":null}""", """{"a":1,"b":false,"c":null}"""],
        ["""{"a":1,}""", """{,"a":1}""", """{"d":1}""", """{"a":1,"a":2}"""]);

    [Fact]
    public void Arrays_with_min_and_max_items() => Check(
        """{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""",
        ["[1]", "[1, 2, 3]", "[ -5 ]"],
        ["[]", "[1,2,3,4]", "[\"a\"]", "[1,]"]);

    [Fact]
    public void Tuples_with_prefix_items() => Check(
        """{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}""",
        ["""["a",1]"""],
        ["""["a"]""", """[1,"a"]""", """["a",1,2]"""]);

    [Fact]
    public void Enums_and_consts() => Check(
        """{"type":"object","properties":{"color":{"enum":["red","green",1,null,{"a":[1]}]},"kind":{"const":"fixed"}},"required":["color","kind"]}""",
        ["""{"color":"red","kind":"fixed"}""", """{"color":null,"kind":"fixed"}""", """{"color":{"a":[1]},"kind":"fixed"}"""],
        ["""{"color":"blue","kind":"fixed"}""", """{"color":2,"kind":"fixed"}""", """{"color":"red","kind":"other"}"""]);

    [Fact]
    public void Recursive_refs_to_defs() => Check(
        """{"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["value"],"additionalProperties":false}},"$ref":"#/$defs/node"}""",
        ["""{"value":1}""", """{"value":1,"children":[{"value":2,"children":[]},{"value":3,"children":[{"value":4}]}]}"""],
        ["""{"value":1,"children":[{}]}""", """{"children":[]}"""]);

    [Fact]
    public void AnyOf_oneOf_and_type_arrays() => Check(
        """{"type":"object","properties":{"a":{"anyOf":[{"type":"string","maxLength":3},{"type":"integer"}]},"b":{"type":["boolean","null"]},"c":{"oneOf":[{"type":"integer","minimum":10},{"type":"integer","maximum":0}]}},"required":["a","b","c"]}""",
        ["""{"a":"abc","b":null,"c":10}""", """{"a":5,"b":true,"c":-3}"""],
        ["""{"a":"abcd","b":null,"c":10}""", """{"a":5,"b":1,"c":10}""", """{"a":5,"b":true,"c":5}"""]);

    [Fact]
    public void AllOf_of_objects_merges_them() => Check(
        """{"$defs":{"base":{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}},"allOf":[{"$ref":"#/$defs/base"},{"properties":{"name":{"type":"string"}},"required":["name"]}]}""",
        ["""{"id":1,"name":"x"}"""],
        ["""{"id":1}""", """{"name":"x"}"""]);

    [Fact]
    public void Additional_properties_schema_allows_other_keys_but_not_declared_ones_again() => Check(
        """{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}""",
        ["""{"a":1}""", """{"a":1,"b":"x","ab":"y"}""", """{"zz":"x"}""", """{"":"x"}"""],
        ["""{"a":"x"}""", """{"a":1,"b":2}""", """{"a":1,"a":"x"}"""]);

    [Fact]
    public void String_lengths() => Check(
        """{"type":"string","minLength":2,"maxLength":4}""",
        ["\"ab\"", "\"abcd\"", "\"\\né\"", "\"😀😀\""],
        ["\"a\"", "\"abcde\"", "\"a\nb\""]);

    [Fact]
    public void Anchored_patterns() => Check(
        """{"type":"string","pattern":"^[A-Z]{2}-\\d{3}(x|yz)?$"}""",
        ["\"AB-123\"", "\"AB-123x\"", "\"QQ-000yz\""],
        ["\"AB-12\"", "\"ab-123\"", "\"AB-123y\"", "\"xAB-123\""]);

    [Fact]
    public void Unanchored_patterns_match_anywhere() => Check(
        """{"type":"string","pattern":"ab+c"}""",
        ["\"abc\"", "\"xxabbbcyy\""],
        ["\"ac\"", "\"ab\""]);

    [Fact]
    public void Pattern_with_quotes_and_backslashes_writes_json_escapes() => Check(
        """{"type":"string","pattern":"^a\"[\\\\.]$"}""",
        ["\"a\\\"\\\\\"", "\"a\\\".\""],
        ["\"a\\\"x\""]);

    [Theory]
    [InlineData("date", "\"2024-02-28\"", "\"2024-13-01\"")]
    [InlineData("time", "\"23:59:59.123Z\"", "\"24:00:00Z\"")]
    [InlineData("date-time", "\"2024-01-31T08:30:00+02:00\"", "\"2024-04-31T08:30:00Z\"")]
    [InlineData("uuid", "\"123e4567-e89b-12d3-a456-426614174000\"", "\"123e4567e89b12d3a456426614174000\"")]
    [InlineData("email", "\"ann.lee@example.org\"", "\"ann@\"")]
    public void Formats(string format, string valid, string invalid) => Check(
        $$"""{"type":"string","format":"{{format}}"}""", [valid], [invalid]);

    [Theory]
    [InlineData(-15, 230)]
    [InlineData(0, 9)]
    [InlineData(7, 7)]
    [InlineData(-1000, -999)]
    [InlineData(-9, 0)]
    [InlineData(99, 1001)]
    [InlineData(123, 456)]
    public void Integer_bounds_are_exact(long min, long max)
    {
        var g = Compile($$"""{"type":"integer","minimum":{{min}},"maximum":{{max}}}""");
        for (long n = -1200; n <= 1200; n++)
            Assert.Equal(n >= min && n <= max, GrammarMatcher.Matches(g, n.ToString(CultureInfo.InvariantCulture)));
        Assert.False(GrammarMatcher.Matches(g, "-0"));
        Assert.False(GrammarMatcher.Matches(g, "007"));
    }

    [Fact]
    public void Open_and_exclusive_integer_bounds()
    {
        var atLeast = Compile("""{"type":"integer","exclusiveMinimum":-3}""");
        var atMost = Compile("""{"type":"integer","maximum":12}""");
        for (long n = -500; n <= 500; n++)
        {
            Assert.Equal(n > -3, GrammarMatcher.Matches(atLeast, n.ToString(CultureInfo.InvariantCulture)));
            Assert.Equal(n <= 12, GrammarMatcher.Matches(atMost, n.ToString(CultureInfo.InvariantCulture)));
        }

        Assert.True(GrammarMatcher.Matches(atLeast, "1234567890123456"));
        Assert.True(GrammarMatcher.Matches(atMost, "-1234567890123456"));
    }

    [Fact]
    public void Number_bounds_never_let_an_out_of_range_value_through()
    {
        const string schema = """{"type":"number","minimum":-2.5,"exclusiveMaximum":3}""";
        var g = Compile(schema);
        int accepted = 0;
        for (int tenths = -400; tenths <= 400; tenths++)
        {
            foreach (var text in new[] { (tenths / 10m).ToString("0.0", CultureInfo.InvariantCulture), (tenths / 10m).ToString("0.##", CultureInfo.InvariantCulture) })
            {
                if (!GrammarMatcher.Matches(g, text))
                    continue;
                accepted++;
                Assert.True(SchemaValidator.IsValid(schema, text), text);
            }
        }

        Assert.True(accepted > 50);
        Assert.True(GrammarMatcher.Matches(g, "2.99"));
        Assert.True(GrammarMatcher.Matches(g, "-1.5"));
        Assert.False(GrammarMatcher.Matches(g, "3"));
        Assert.False(GrammarMatcher.Matches(g, "-3"));
    }

    [Fact]
    public void Json_object_grammar_takes_any_object_only()
    {
        var g = JsonSchemaGrammar.JsonObject();
        Assert.True(GrammarMatcher.Matches(g, """{"a":[1,2.5e3,{"b":null}],"c":"\u00e9","d":true}"""));
        Assert.True(GrammarMatcher.Matches(g, "{}"));
        Assert.False(GrammarMatcher.Matches(g, "[1]"));
        Assert.False(GrammarMatcher.Matches(g, "\"a\""));
        Assert.False(GrammarMatcher.Matches(g, "{\"a\":1,}"));
        Assert.False(GrammarMatcher.Matches(g, "{\"a\":\"\\ud800\"}")); // a lone surrogate is not text
    }

    [Fact]
    public void Whitespace_between_tokens_is_bounded()
    {
        var g = JsonSchemaGrammar.JsonObject();
        Assert.True(GrammarMatcher.Matches(g, "{\n" + new string(' ', 20) + "\"a\": 1}"));
        Assert.False(GrammarMatcher.Matches(g, "{\n" + new string(' ', 21) + "\"a\": 1}"));
        Assert.False(GrammarMatcher.Matches(g, "{  \"a\": 1}"));
    }

    [Theory]
    [InlineData("""{"not":{"type":"string"}}""", "keyword 'not'")]
    [InlineData("""{"type":"integer","multipleOf":3}""", "keyword 'multipleOf'")]
    [InlineData("""{"type":"object","patternProperties":{"^a":{}}}""", "keyword 'patternProperties'")]
    [InlineData("""{"type":"array","uniqueItems":true}""", "keyword 'uniqueItems'")]
    [InlineData("""{"type":"object","properties":{"a":{"if":{}}}}""", "at '#/properties/a': keyword 'if'")]
    [InlineData("""{"type":"string","format":"uri"}""", "'format' 'uri'")]
    [InlineData("""{"$ref":"https://example.com/schema"}""", "only local references")]
    [InlineData("""{"$ref":"#/$defs/missing"}""", "does not exist")]
    [InlineData("""{"type":"string","pattern":"^(a)\\1$"}""", "a backreference")]
    [InlineData("""{"type":"string","pattern":"^(?=a)a$"}""", "lookaround")]
    [InlineData("""{"type":"string","pattern":"\\bword"}""", "word boundary")]
    [InlineData("""{"type":"string","pattern":"a^b"}""", "anchor '^'")]
    [InlineData("""{"type":"decimal"}""", "type 'decimal'")]
    [InlineData("""false""", "'false'")]
    [InlineData("""{"type":"string","pattern":"^a$","maxLength":3}""", "'pattern' together with")]
    [InlineData("""{"type":"integer","minimum":5,"maximum":4}""", "no integer satisfies")]
    [InlineData("""{"type":"array","minItems":3,"maxItems":2}""", "'maxItems' below 'minItems'")]
    [InlineData("""{"allOf":[{"type":"string"},{"type":"object"}]}""", "'allOf' over schemas that are not objects")]
    [InlineData("""{"type":"integer","maximum":1e300}""", "magnitude")]
    public void Unsupported_constructs_are_refused_naming_them(string schema, string what)
    {
        var e = Assert.Throws<GrammarException>(() => Compile(schema));
        Assert.Contains(what, e.Message);
    }

    [Fact]
    public void Builder_combines_a_schema_with_hand_written_rules()
    {
        using var args = JsonDocument.Parse("""{"type":"object","properties":{"city":{"enum":["Paris","Oslo"]}},"required":["city"]}""");
        var b = new JsonSchemaGrammar();
        string arguments = b.AddSchema(args.RootElement, "weather-args");
        b.AddRule("root", GbnfText.Literal("<tool_call>{\"name\": \"weather\", \"arguments\": ") + " " + arguments + " " + GbnfText.Literal("}</tool_call>"));
        var g = b.Build("root");
        Assert.True(GrammarMatcher.Matches(g, """<tool_call>{"name": "weather", "arguments": {"city":"Oslo"}}</tool_call>"""));
        Assert.False(GrammarMatcher.Matches(g, """<tool_call>{"name": "weather", "arguments": {"city":"Rome"}}</tool_call>"""));
    }
}
