using static Tern.Chat.Tests.TemplateHarness;

namespace Tern.Chat.Tests;

/// <summary>tojson is Python's json.dumps(x, ensure_ascii=False, indent, separators, sort_keys), as Hugging Face defines it.</summary>
public sealed class ToJsonTests
{
    [Theory]
    [InlineData("{'a': [1, 2.0, none, true, 'é\\n\"']}|tojson", "{\"a\": [1, 2.0, null, true, \"é\\n\\\"\"]}")]
    [InlineData("{'a': [1, {'b': 2}], 'c': {}, 'd': []}|tojson(indent=2)", "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": {},\n  \"d\": []\n}")]
    [InlineData("[1, [2]]|tojson(indent=0)", "[\n1,\n[\n2\n]\n]")]
    [InlineData("{'a': 1, 'b': 2}|tojson(separators=(',', ':'))", "{\"a\":1,\"b\":2}")]
    [InlineData("{'b': 1, 'a': 2}|tojson(sort_keys=true)", "{\"a\": 2, \"b\": 1}")]
    [InlineData("'é🙂'|tojson(ensure_ascii=true)", "\"\\u00e9\\ud83d\\ude42\"")]
    [InlineData("'é🙂'|tojson", "\"é🙂\"")]
    [InlineData("1e20|tojson ~ ' ' ~ 1.0|tojson", "1e+20 1.0")]
    [InlineData("{1: 'a', none: 'b', true: 'c', 2.5: 'd'}|tojson", "{\"1\": \"c\", \"null\": \"b\", \"2.5\": \"d\"}")]
    [InlineData("(1, 2)|tojson", "[1, 2]")]
    [InlineData("'\\x00\\x1f<>&\\''|tojson", "\"\\u0000\\u001f<>&'\"")]
    [InlineData("'a'|tojson(indent='\\t')", "\"a\"")]
    public void Tojson_formats_like_json_dumps(string expression, string expected) =>
        Assert.Equal(expected, Render("{{ " + expression + " }}"));

    [Fact]
    public void Object_key_order_is_kept_from_the_input() =>
        Assert.Equal("{\"z\": 1, \"a\": {\"y\": 2, \"b\": 3}}", Render("{{ x|tojson }}", """{"x": {"z": 1, "a": {"y": 2, "b": 3}}}"""));

    [Fact]
    public void Undefined_is_not_serializable() =>
        Assert.Equal("Object of type Undefined is not JSON serializable", Fails("{{ missing|tojson }}").Reason);
}
