using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Tern.Cli.Tests;

/// <summary>
/// The documents of a YAML stream (YamlDotNet) as plain values: maps, lists and strings; with a path lookup
/// <c>Node.At(doc, "spec", "template", "spec")</c> that names what is missing.
/// </summary>
internal static class YamlDocuments
{
    public static List<Dictionary<object, object>> Parse(string text)
    {
        var deserializer = new DeserializerBuilder().Build();
        var parser = new Parser(new StringReader(text));
        parser.Consume<StreamStart>();
        var documents = new List<Dictionary<object, object>>();
        while (parser.Accept<DocumentStart>(out _))
        {
            documents.Add(deserializer.Deserialize<object?>(parser) as Dictionary<object, object>
                ?? throw new YamlException("a document that is not a mapping (empty, or a list or scalar)"));
        }

        return documents;
    }

    public static object At(object node, params string[] path)
    {
        object current = node;
        foreach (string key in path)
        {
            current = current is Dictionary<object, object> map && map.TryGetValue(key, out var next) && next is not null
                ? next
                : throw new KeyNotFoundException($"{string.Join('.', path)}: no '{key}'");
        }

        return current;
    }

    public static object? Find(object node, params string[] path)
    {
        try
        {
            return At(node, path);
        }
        catch (KeyNotFoundException)
        {
            return null;
        }
    }

    public static string Text(object node, params string[] path) =>
        At(node, path) as string ?? throw new InvalidCastException($"{string.Join('.', path)} is not a scalar");

    public static List<object> List(object node, params string[] path) =>
        At(node, path) as List<object> ?? throw new InvalidCastException($"{string.Join('.', path)} is not a list");

    public static Dictionary<object, object> Map(object node, params string[] path) =>
        At(node, path) as Dictionary<object, object> ?? throw new InvalidCastException($"{string.Join('.', path)} is not a mapping");

    public static int Int(object node, params string[] path) =>
        int.Parse(Text(node, path), System.Globalization.CultureInfo.InvariantCulture);
}
