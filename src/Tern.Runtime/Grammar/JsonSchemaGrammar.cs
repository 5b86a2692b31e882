using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Tern.Runtime.Grammar;

/// <summary>
/// Builds a GBNF grammar from JSON schemas (what llama.cpp's json-schema-to-grammar covers): types and type arrays,
/// properties/required (optional properties in their order), additionalProperties, enum, const, anyOf/oneOf, allOf
/// of objects, local $ref/$defs (recursion allowed), arrays with items/prefixItems/minItems/maxItems, strings with
/// minLength/maxLength, pattern and format (date, time, date-time, uuid, email), integers and numbers with bounds.
/// Every generated sentence validates against the schema: anything it cannot express exactly (an unknown keyword,
/// <c>not</c>, <c>multipleOf</c>, ...) is a <see cref="GrammarException"/> naming it, never a looser grammar. Where
/// exactness would cost too much the grammar is stricter (no escapes in pattern strings, bounded numbers without
/// exponents, at most 16 integer digits) but never looser. Whitespace between tokens is bounded (one space, or a
/// newline and up to 20 spaces or tabs), so a model cannot loop on it. oneOf is generated as anyOf, as llama.cpp does.
/// <para>Several schemas and hand-written rules can share one builder (e.g. a tool call around its arguments):
/// <see cref="AddSchema"/> returns a rule name to use in <see cref="AddRule"/> bodies, and <see cref="Build"/> compiles.</para>
/// </summary>
public sealed partial class JsonSchemaGrammar
{
    private const string Space = "space";

    private static readonly HashSet<string> Annotations =
        ["title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly", "$anchor"];

    private static readonly HashSet<string> Keywords =
    [
        "type", "properties", "required", "additionalProperties", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions",
        "items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength", "pattern", "format",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    ];

    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly List<(string Name, string Body)> _rules = [];
    private readonly Dictionary<string, string> _bodies = [];
    private readonly Dictionary<string, string> _refs = []; // "#/$defs/x" -> rule name
    private JsonElement _document;

    public JsonSchemaGrammar() => Primitive(Space);

    /// <summary>The grammar of JSON text valid against <paramref name="schema"/> (rule <c>root</c>).</summary>
    public static Grammar FromSchema(JsonElement schema)
    {
        var b = new JsonSchemaGrammar();
        b.AddRule("root", b.AddSchema(schema, "root-value"));
        return b.Build("root");
    }

    /// <summary>The grammar of any JSON object (<c>response_format: {"type": "json_object"}</c>).</summary>
    public static Grammar JsonObject()
    {
        var b = new JsonSchemaGrammar();
        b.AddRule("root", b.Primitive("object"));
        return b.Build("root");
    }

    /// <summary>
    /// Adds rules for JSON values valid against <paramref name="schema"/> (its own document for $ref) and returns the
    /// name of the rule matching one such value followed by bounded whitespace.
    /// </summary>
    public string AddSchema(JsonElement schema, string name)
    {
        var saved = _document;
        _document = schema;
        try
        {
            return Visit(schema, Sanitize(name), "#");
        }
        finally
        {
            _document = saved;
        }
    }

    /// <summary>Adds a rule (GBNF body) under <paramref name="name"/>, or a numbered variant when the name holds another body; returns the name used.</summary>
    public string AddRule(string name, string body)
    {
        name = Sanitize(name);
        string key = name;
        for (int i = 1; _bodies.TryGetValue(key, out var existing); i++)
        {
            if (existing == body)
                return key;
            key = $"{name}{i}";
        }

        _bodies[key] = body;
        _rules.Add((key, body));
        return key;
    }

    /// <summary>The GBNF text of every rule added so far.</summary>
    public string ToGbnf()
    {
        var sb = new StringBuilder();
        foreach (var (name, body) in _rules)
            sb.Append(name).Append(" ::= ").Append(body).Append('\n');
        return sb.ToString();
    }

    public Grammar Build(string root) => Grammar.Parse(ToGbnf(), root);

    private string Visit(JsonElement s, string name, string path)
    {
        if (s.ValueKind is JsonValueKind.True)
            return Primitive("value");
        if (s.ValueKind != JsonValueKind.Object)
            throw Unsupported(s.ValueKind == JsonValueKind.False ? "the schema 'false' (nothing is valid)" : $"a schema that is {Kind(s)}", path);
        foreach (var p in s.EnumerateObject())
        {
            if (!Keywords.Contains(p.Name) && !Annotations.Contains(p.Name))
                throw Unsupported($"keyword '{p.Name}'", path);
        }

        if (s.TryGetProperty("$ref", out var reference))
        {
            if (s.EnumerateObject().Any(p => Keywords.Contains(p.Name) && p.Name is not ("$ref" or "$defs" or "definitions")))
                throw Unsupported("keywords beside '$ref'", path);
            return Ref(reference, path);
        }

        if (s.TryGetProperty("const", out var constant))
            return AddRule(name, GbnfText.Literal(JsonSerializer.Serialize(constant, Compact)) + " " + Space);
        if (s.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
                throw Unsupported("'enum' that is not a non-empty array", path);
            var literals = values.EnumerateArray().Select(v => GbnfText.Literal(JsonSerializer.Serialize(v, Compact))).Distinct();
            return AddRule(name, "(" + string.Join(" | ", literals) + ") " + Space);
        }

        foreach (var combinator in new[] { "anyOf", "oneOf" })
        {
            if (!s.TryGetProperty(combinator, out var list))
                continue;
            if (s.EnumerateObject().Any(p => Keywords.Contains(p.Name) && p.Name is not ("anyOf" or "oneOf" or "$defs" or "definitions")))
                throw Unsupported($"keywords beside '{combinator}'", path);
            var alternatives = Items(list, combinator, path).Select((sub, i) => Visit(sub, $"{name}-{i}", $"{path}/{combinator}/{i}"));
            return AddRule(name, string.Join(" | ", alternatives));
        }

        if (s.TryGetProperty("allOf", out var all))
            return VisitAllOf(s, all, name, path);

        if (s.TryGetProperty("type", out var type))
        {
            if (type.ValueKind == JsonValueKind.String)
                return VisitType(s, type.GetString()!, name, path);
            if (type.ValueKind != JsonValueKind.Array || type.GetArrayLength() == 0)
                throw Unsupported("'type' that is not a string or a non-empty array", path);
            var alternatives = type.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String
                ? VisitType(s, t.GetString()!, $"{name}-{t.GetString()}", path)
                : throw Unsupported("'type' array with a non-string entry", path));
            return AddRule(name, string.Join(" | ", alternatives.Distinct()));
        }

        // No type: the keywords name one (restricting to it is stricter, never looser); none at all means any value.
        string? implied = s.EnumerateObject().Select(p => p.Name switch
        {
            "properties" or "required" or "additionalProperties" => "object",
            "items" or "prefixItems" or "minItems" or "maxItems" => "array",
            "minLength" or "maxLength" or "pattern" or "format" => "string",
            "minimum" or "maximum" or "exclusiveMinimum" or "exclusiveMaximum" => "number",
            _ => null,
        }).FirstOrDefault(t => t is not null);
        return implied is null ? Primitive("value") : VisitType(s, implied, name, path);
    }

    private string VisitType(JsonElement s, string type, string name, string path) => type switch
    {
        "object" => VisitObject(s, name, path),
        "array" => VisitArray(s, name, path),
        "string" => VisitString(s, name, path),
        "integer" => VisitNumber(s, integer: true, name, path),
        "number" => VisitNumber(s, integer: false, name, path),
        "boolean" => Primitive("boolean"),
        "null" => Primitive("null"),
        _ => throw Unsupported($"type '{type}'", path),
    };

    private string Ref(JsonElement reference, string path)
    {
        string target = reference.ValueKind == JsonValueKind.String ? reference.GetString()! : throw Unsupported("'$ref' that is not a string", path);
        if (_refs.TryGetValue(target, out var rule))
            return rule;
        if (!target.StartsWith("#/", StringComparison.Ordinal) && target != "#")
            throw Unsupported($"'$ref' to '{target}' (only local references such as '#/$defs/name' are supported)", path);
        var node = _document;
        foreach (var raw in target.Length == 1 ? [] : target[2..].Split('/'))
        {
            string part = Uri.UnescapeDataString(raw).Replace("~1", "/").Replace("~0", "~");
            bool found = node.ValueKind switch
            {
                JsonValueKind.Object => node.TryGetProperty(part, out node),
                JsonValueKind.Array when int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i < node.GetArrayLength() => (node = node[i]).ValueKind != JsonValueKind.Undefined,
                _ => false,
            };
            if (!found)
                throw Unsupported($"'$ref' to '{target}', which does not exist in the schema", path);
        }

        // Reserve the name first, so a recursive reference finds it while its body is built.
        string name = Sanitize("ref-" + target[Math.Min(target.Length, target.LastIndexOf('/') + 1)..]);
        string unique = name;
        for (int i = 1; _bodies.ContainsKey(unique) || _refs.ContainsValue(unique); i++)
            unique = $"{name}{i}";
        _refs[target] = unique;
        string body = Visit(node, unique + "-body", target);
        _bodies[unique] = body;
        _rules.Add((unique, body));
        return unique;
    }

    private string VisitObject(JsonElement s, string name, string path)
    {
        bool hasProperties = s.TryGetProperty("properties", out var properties);
        bool hasAdditional = s.TryGetProperty("additionalProperties", out var additional);
        if (hasProperties && properties.ValueKind != JsonValueKind.Object)
            throw Unsupported("'properties' that is not an object", path);
        var required = s.TryGetProperty("required", out var req)
            ? req.ValueKind == JsonValueKind.Array && req.EnumerateArray().All(r => r.ValueKind == JsonValueKind.String)
                ? req.EnumerateArray().Select(r => r.GetString()!).Distinct().ToList()
                : throw Unsupported("'required' that is not an array of strings", path)
            : [];
        if (!hasProperties && !hasAdditional && required.Count == 0)
            return Primitive("object");
        var props = hasProperties ? properties.EnumerateObject().Select(p => (p.Name, p.Value)).ToList() : [];
        return BuildObject(props, required, hasAdditional ? additional : null, name, path);
    }

    /// <summary>
    /// An object with its required properties in order, then any subset of the optional ones in order (llama.cpp's
    /// nesting: each optional one may follow any earlier one), then, when additionalProperties allows, more keys
    /// that are none of the declared ones.
    /// </summary>
    private string BuildObject(List<(string Name, JsonElement Schema)> props, List<string> required, JsonElement? additional, string name, string path)
    {
        bool extra = additional is { ValueKind: not JsonValueKind.False };
        string KeyValue(string key, string valueRule) =>
            AddRule($"{name}-{key}-kv", GbnfText.Literal(JsonSerializer.Serialize(key, Compact)) + " space \":\" space " + valueRule);

        var kv = new Dictionary<string, string>();
        foreach (var (key, schema) in props)
            kv[key] = KeyValue(key, Visit(schema, $"{name}-{key}", $"{path}/properties/{key}"));
        foreach (var key in required.Where(k => !kv.ContainsKey(k)))
        {
            var value = extra ? Visit(additional!.Value, $"{name}-additional", $"{path}/additionalProperties")
                : throw Unsupported($"required property '{key}' that 'properties' does not declare while additional properties are not allowed", path);
            kv[key] = KeyValue(key, value);
        }

        var requiredOrder = props.Select(p => p.Name).Where(required.Contains).Concat(required.Where(k => !props.Exists(p => p.Name == k))).ToList();
        var optional = props.Select(p => p.Name).Where(k => !required.Contains(k)).ToList();
        if (extra)
        {
            string key = AddRule($"{name}-additional-key", "\"\\\"\" " + NotOneOf([.. kv.Keys], $"{name}-key") + " \"\\\"\" space");
            kv["*"] = AddRule($"{name}-additional-kv", key + " \":\" space " + Visit(additional!.Value, $"{name}-additional", $"{path}/additionalProperties"));
            optional.Add("*");
        }

        string Tail(List<string> keys, bool firstOptional)
        {
            string k = keys[0];
            string comma = $"( \",\" space {kv[k]} )";
            string res = firstOptional ? comma + (k == "*" ? "*" : "?") : kv[k] + (k == "*" ? " " + comma + "*" : "");
            if (keys.Count > 1)
                res += " " + AddRule($"{name}-{(k == "*" ? "additional" : k)}-rest", Tail(keys[1..], firstOptional: true));
            return res;
        }

        var body = new StringBuilder("\"{\" space ");
        if (requiredOrder.Count > 0)
        {
            body.Append(string.Join(" \",\" space ", requiredOrder.Select(k => kv[k])));
            if (optional.Count > 0)
                body.Append(' ').Append(Tail(optional, firstOptional: true));
        }
        else if (optional.Count > 0)
        {
            body.Append("( ").Append(string.Join(" | ", Enumerable.Range(0, optional.Count).Select(i => Tail(optional[i..], firstOptional: false)))).Append(" )?");
        }

        return AddRule(name, body.Append(" \"}\" space").ToString());
    }

    /// <summary>allOf of object schemas (after $ref): their properties and required lists merged.</summary>
    private string VisitAllOf(JsonElement s, JsonElement all, string name, string path)
    {
        if (s.EnumerateObject().Any(p => Keywords.Contains(p.Name) && p.Name is not ("allOf" or "$defs" or "definitions" or "type")))
            throw Unsupported("keywords beside 'allOf'", path);
        var props = new List<(string, JsonElement)>();
        var required = new List<string>();
        int closed = 0, parts = 0;
        var closedNames = new List<HashSet<string>>();
        foreach (var raw in Items(all, "allOf", path))
        {
            var part = Resolve(raw, path);
            parts++;
            foreach (var p in part.EnumerateObject())
            {
                if (p.Name is not ("type" or "properties" or "required" or "additionalProperties") && !Annotations.Contains(p.Name))
                    throw Unsupported($"'allOf' over schemas that are not plain objects (keyword '{p.Name}')", path);
            }

            if (part.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() != "object")
                throw Unsupported("'allOf' over schemas that are not objects", path);
            var names = new HashSet<string>();
            if (part.TryGetProperty("properties", out var ps) && ps.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in ps.EnumerateObject())
                {
                    if (props.Exists(x => x.Item1 == p.Name))
                        throw Unsupported($"'allOf' declaring property '{p.Name}' twice", path);
                    props.Add((p.Name, p.Value));
                    names.Add(p.Name);
                }
            }

            if (part.TryGetProperty("required", out var r) && r.ValueKind == JsonValueKind.Array)
                required.AddRange(r.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!));
            if (part.TryGetProperty("additionalProperties", out var ap))
            {
                if (ap.ValueKind != JsonValueKind.False)
                    throw Unsupported("'allOf' over objects with an 'additionalProperties' schema", path);
                closed++;
                closedNames.Add(names);
            }
        }

        if (closed > 0 && parts > 1)
            throw Unsupported("'allOf' combining 'additionalProperties: false' with properties of another schema", path);
        return BuildObject(props, required.Distinct().ToList(), null, name, path);
    }

    private JsonElement Resolve(JsonElement s, string path)
    {
        for (int hops = 0; s.ValueKind == JsonValueKind.Object && s.TryGetProperty("$ref", out var r) && r.ValueKind == JsonValueKind.String; hops++)
        {
            if (hops > 32)
                throw Unsupported("a chain of more than 32 '$ref's", path);
            string target = r.GetString()!;
            if (!target.StartsWith("#/", StringComparison.Ordinal))
                throw Unsupported($"'$ref' to '{target}'", path);
            var node = _document;
            foreach (var part in target[2..].Split('/'))
            {
                if (node.ValueKind != JsonValueKind.Object || !node.TryGetProperty(part.Replace("~1", "/").Replace("~0", "~"), out node))
                    throw Unsupported($"'$ref' to '{target}', which does not exist in the schema", path);
            }

            s = node;
        }

        return s;
    }

    private string VisitArray(JsonElement s, string name, string path)
    {
        int min = Count(s, "minItems", path) ?? 0;
        int? max = Count(s, "maxItems", path);
        if (max < min)
            throw Unsupported("'maxItems' below 'minItems' (nothing is valid)", path);
        if (s.TryGetProperty("prefixItems", out var prefix))
        {
            var tuple = Items(prefix, "prefixItems", path).Select((item, i) => Visit(item, $"{name}-{i}", $"{path}/prefixItems/{i}")).ToList();
            if (tuple.Count < min || tuple.Count > (max ?? int.MaxValue))
                throw Unsupported("'prefixItems' whose length is outside 'minItems'..'maxItems'", path);
            return AddRule(name, "\"[\" space " + string.Join(" \",\" space ", tuple) + " \"]\" space");
        }

        string item = s.TryGetProperty("items", out var items) ? Visit(items, $"{name}-item", $"{path}/items") : Primitive("value");
        return AddRule(name, "\"[\" space " + Repetition(item, min, max, "\",\" space") + " \"]\" space");
    }

    /// <summary><paramref name="item"/> repeated min..max times with a separator between (llama.cpp's _build_repetition).</summary>
    private static string Repetition(string item, int min, int? max, string separator)
    {
        if (max == 0)
            return "";
        string rest = max is { } m ? $"{{{Math.Max(min - 1, 0)},{m - 1}}}" : (min > 1 ? $"{{{min - 1},}}" : "*");
        string seq = $"{item} ( {separator} {item} ){rest}";
        return min == 0 ? $"( {seq} )?" : seq;
    }

    private string VisitString(JsonElement s, string name, string path)
    {
        int? minLength = Count(s, "minLength", path);
        int? maxLength = Count(s, "maxLength", path);
        bool lengths = minLength is not null || maxLength is not null;
        if (s.TryGetProperty("format", out var format))
        {
            if (lengths || s.TryGetProperty("pattern", out _))
                throw Unsupported("'format' together with 'pattern' or a length bound", path);
            string f = format.ValueKind == JsonValueKind.String ? format.GetString()! : throw Unsupported("'format' that is not a string", path);
            return AddRule(name, "\"\\\"\" " + Format(f, path) + " \"\\\"\" space");
        }

        if (s.TryGetProperty("pattern", out var pattern))
        {
            if (lengths)
                throw Unsupported("'pattern' together with 'minLength' or 'maxLength'", path);
            string regex = pattern.ValueKind == JsonValueKind.String ? pattern.GetString()! : throw Unsupported("'pattern' that is not a string", path);
            return AddRule(name, "\"\\\"\" " + new PatternConverter(regex, path).Convert() + " \"\\\"\" space");
        }

        if (!lengths)
            return Primitive("string");
        int min = minLength ?? 0;
        if (maxLength < min)
            throw Unsupported("'maxLength' below 'minLength' (nothing is valid)", path);
        string count = maxLength is { } max ? $"{{{min},{max}}}" : $"{{{min},}}";
        Primitive("char");
        return AddRule(name, $"\"\\\"\" char{count} \"\\\"\" space");
    }

    private string Format(string format, string path)
    {
        switch (format)
        {
            case "date":
                return Date();
            case "time":
                return Time();
            case "date-time":
                return AddRule("date-time", Date() + " \"T\" " + Time());
            case "uuid":
                return AddRule("uuid", "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}");
            case "email":
                return AddRule("email", "[a-z0-9]{1,32} ( \".\" [a-z0-9]{1,32} )? \"@\" [a-z0-9]{1,32} ( \".\" [a-z0-9]{1,32} )? \".\" [a-z]{2,6}");
            default:
                throw Unsupported($"'format' '{format}' (supported: date, time, date-time, uuid, email)", path);
        }

        // Stricter than RFC 3339 where exactness would need a calendar: February has 28 days, no leap second.
        string Date() => AddRule("date",
            "[12] [0-9]{3} \"-\" ( ( \"0\" [13578] | \"1\" [02] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] ) | ( \"0\" [469] | \"11\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"30\" ) | \"02-\" ( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] ) )");
        string Time() => AddRule("time",
            "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,3} )? ( \"Z\" | [+\\-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )");
    }

    /// <summary>The shared rules for plain JSON values, added on first use; returns the rule name.</summary>
    private string Primitive(string name)
    {
        if (_bodies.ContainsKey(name))
            return name;
        string body = name switch
        {
            "space" => "( \" \" | \"\\n\" [ \\t]{0,20} )?",
            "boolean" => "( \"true\" | \"false\" ) space",
            "null" => "\"null\" space",
            "integral-part" => "[0] | [1-9] [0-9]{0,15}",
            "integer" => "\"-\"? integral-part space",
            "number" => "\"-\"? integral-part ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )? space",
            // a JSON string character: plain, or an escape (\u escapes of UTF-16 surrogates excluded: alone they are not text)
            "char" => "[^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" ( [0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} ) )",
            "string" => "\"\\\"\" char* \"\\\"\" space",
            "value" => "object | array | string | number | boolean | null",
            "object" => "\"{\" space ( string \":\" space value ( \",\" space string \":\" space value )* )? \"}\" space",
            "array" => "\"[\" space ( value ( \",\" space value )* )? \"]\" space",
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        _bodies[name] = body; // reserved before its dependencies (value and object refer to each other)
        _rules.Add((name, body));
        foreach (var dependency in name switch
        {
            "boolean" or "null" or "string" or "object" or "array" or "integer" or "number" => ["space"],
            _ => Array.Empty<string>(),
        })
            Primitive(dependency);
        if (name is "integer" or "number")
            Primitive("integral-part");
        if (name is "string")
            Primitive("char");
        if (name is "value" or "object" or "array")
        {
            foreach (var p in new[] { "object", "array", "string", "number", "boolean", "null", "value" })
                Primitive(p);
        }

        return name;
    }

    /// <summary>
    /// JSON string content (plain characters only, no escapes) that is none of <paramref name="names"/>: a trie of the
    /// names, where at each node the key may turn off into any other character, or end unless a name ends there.
    /// </summary>
    private string NotOneOf(List<string> names, string name)
    {
        Primitive("char");
        string plainChar = AddRule("plain-char", "[^\"\\\\\\x7F\\x00-\\x1F]");
        var trie = new Dictionary<string, (bool End, SortedSet<int> Next)> { [""] = (false, []) };
        foreach (var n in names)
        {
            string prefix = "";
            foreach (var rune in n.EnumerateRunes())
            {
                if (rune.Value < 0x20 || rune.Value is '"' or '\\' or 0x7F)
                    break; // plain keys cannot spell this name
                trie[prefix].Next.Add(rune.Value);
                prefix += rune.ToString();
                if (!trie.ContainsKey(prefix))
                    trie[prefix] = (false, []);
            }

            if (trie.TryGetValue(n, out var node))
                trie[n] = (true, node.Next);
        }

        int counter = 0;
        string Node(string prefix)
        {
            var (end, next) = trie[prefix];
            var alternatives = new List<string>();
            foreach (int c in next)
            {
                string child = prefix + char.ConvertFromUtf32(c);
                alternatives.Add(GbnfText.Literal(char.ConvertFromUtf32(c)) + " " + Node(child));
            }

            var excluded = new List<(int, int)> { (0, 0x1F), ('"', '"'), ('\\', '\\'), (0x7F, 0x7F) };
            excluded.AddRange(next.Select(c => (c, c)));
            alternatives.Add(GbnfText.Class(excluded.OrderBy(r => r.Item1), negated: true) + " " + plainChar + "*");
            string body = string.Join(" | ", alternatives);
            if (!end)
                body = "( " + body + " )?";
            return AddRule($"{name}-{counter++}", body);
        }

        return Node("");
    }

    private static IEnumerable<JsonElement> Items(JsonElement list, string keyword, string path) =>
        list.ValueKind == JsonValueKind.Array && list.GetArrayLength() > 0
            ? list.EnumerateArray()
            : throw Unsupported($"'{keyword}' that is not a non-empty array", path);

    private static int? Count(JsonElement s, string keyword, string path)
    {
        if (!s.TryGetProperty(keyword, out var v))
            return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDecimal(out decimal d) || d < 0 || d != Math.Floor(d))
            throw Unsupported($"'{keyword}' that is not a non-negative integer", path);
        return d > 100_000 ? throw Unsupported($"'{keyword}' over 100000", path) : (int)d;
    }

    private static string Sanitize(string name)
    {
        var sb = new StringBuilder();
        foreach (char c in name)
            sb.Append(char.IsAsciiLetterOrDigit(c) || c == '-' ? c : '-');
        return sb.Length == 0 ? "rule" : sb.ToString();
    }

    private static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    internal static GrammarException Unsupported(string what, string path) =>
        new($"unsupported JSON schema construct at '{path}': {what}");
}
