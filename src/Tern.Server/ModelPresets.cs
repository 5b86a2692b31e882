using System.Globalization;
using Tern.Models;

namespace Tern.Server;

/// <summary>
/// llama-server's --models-preset file: INI, one <c>[NAME]</c> section per model (<c>[*]</c>: every model), keys named
/// as the serve flags without dashes (<c>ctx-size</c> or <c>c</c>, <c>parallel</c> or <c>np</c>, <c>cache-type-k</c>,
/// <c>cache-type-v</c>, <c>temp</c>, <c>top-p</c>, <c>top-k</c>, <c>min-p</c>, <c>chat-template-file</c>,
/// <c>model</c> = a GGUF to add, <c>alias</c> = the name clients use, <c>load-on-startup</c>). A section's settings
/// override the server-wide flags. Anything else is an error naming the file, line and key.
/// </summary>
public static class ModelPresets
{
    /// <summary>llama.cpp's GPU and template switches: accepted, and they change nothing on the CPU (always Jinja).</summary>
    private static readonly HashSet<string> Ignored = ["jinja", "n-gpu-layers", "ngl", "gpu-layers", "flash-attn", "fa"];

    /// <summary><paramref name="models"/> with the file's settings applied and its <c>model =</c> entries added.</summary>
    public static IReadOnlyList<ModelEntry> Apply(IReadOnlyList<ModelEntry> models, string file)
    {
        if (!File.Exists(file))
            throw new FileNotFoundException($"--models-preset {file} does not exist");
        string directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
        var sections = Parse(file, File.ReadAllLines(file));
        var byName = models.ToDictionary(m => m.Name, StringComparer.Ordinal);
        var order = models.Select(m => m.Name).ToList();
        sections.TryGetValue("*", out var all);
        foreach (var (name, section) in sections)
        {
            if (name == "*")
                continue;
            if (section.Path is { } path)
            {
                string full = Path.GetFullPath(path.Value, directory);
                if (!File.Exists(full))
                    throw Error(file, path.Line, "model", $"{full} does not exist");
                if (!byName.ContainsKey(name))
                    order.Add(name);
                byName[name] = new ModelEntry(name, full) { Source = "preset" };
            }
            else if (!byName.ContainsKey(name))
            {
                throw new ArgumentException($"{file}:{section.Line}: section [{name}] names no model in --models-dir or the model cache "
                    + $"(add 'model = PATH', or use one of: {string.Join(", ", order.Take(8))})");
            }
        }

        var result = new List<ModelEntry>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string name in order)
        {
            var entry = byName[name];
            sections.TryGetValue(name, out var own);
            var settings = Merge(entry.Settings, all, own, directory, file);
            string shown = own?.Alias?.Value ?? name;
            if (names.TryGetValue(shown, out int line))
                throw Error(file, own?.Alias?.Line ?? line, "alias", $"'{shown}' is already the name of another model");
            names[shown] = own?.Alias?.Line ?? 0;
            result.Add(entry with { Name = shown, Settings = settings });
        }

        return result;
    }

    private sealed record Setting(string Value, int Line);

    private sealed class Section(int line)
    {
        public int Line { get; } = line;
        public Dictionary<string, (string Key, Setting Value)> Keys { get; } = [];
        public Setting? Path => Get("model");
        public Setting? Alias => Get("alias");
        public Setting? Get(string key) => Keys.TryGetValue(key, out var v) ? v.Value : null;
    }

    /// <summary>The sections by name; keys are checked to be known and stored under their long name.</summary>
    private static Dictionary<string, Section> Parse(string file, string[] lines)
    {
        var sections = new Dictionary<string, Section>(StringComparer.Ordinal);
        Section? current = null;
        for (int i = 0; i < lines.Length; i++)
        {
            int number = i + 1;
            string line = lines[i].Trim();
            if (line.Length == 0 || line[0] is ';' or '#')
                continue;
            if (line[0] == '[')
            {
                if (!line.EndsWith(']') || line.Length < 3)
                    throw new ArgumentException($"{file}:{number}: a section header must be [NAME], got '{line}'");
                string name = line[1..^1].Trim();
                if (sections.ContainsKey(name))
                    throw new ArgumentException($"{file}:{number}: section [{name}] appears twice");
                sections[name] = current = new Section(number);
                continue;
            }

            int equals = line.IndexOf('=');
            if (equals <= 0)
                throw new ArgumentException($"{file}:{number}: expected 'key = value' or [NAME], got '{line}'");
            string key = line[..equals].Trim().TrimStart('-'), value = Unquote(line[(equals + 1)..].Trim());
            if (current is null)
            {
                if (key != "version" || value != "1")
                    throw Error(file, number, key, key == "version" ? $"version {value} is not supported (only 1)" : "keys must be inside a [NAME] section (only 'version = 1' may come first)");
                continue;
            }

            string canonical = Canonical(key) ?? throw Error(file, number, key, "is not a preset key (known: ctx-size/c, parallel/np, cache-type-k/ctk, cache-type-v/ctv, "
                + "temp, top-p, top-k, min-p, chat-template-file, model/m, alias, load-on-startup)");
            if (current.Keys.ContainsKey(canonical))
                throw Error(file, number, key, "is set twice in this section");
            current.Keys[canonical] = (key, new Setting(value, number));
        }

        return sections;
    }

    private static string? Canonical(string key) => key switch
    {
        "ctx-size" or "c" => "ctx-size",
        "parallel" or "np" => "parallel",
        "cache-type-k" or "ctk" => "cache-type-k",
        "cache-type-v" or "ctv" => "cache-type-v",
        "temp" or "temperature" => "temp",
        "top-p" or "top-k" or "min-p" or "chat-template-file" or "alias" or "load-on-startup" => key,
        "model" or "m" => "model",
        _ when Ignored.Contains(key) => key,
        _ => null,
    };

    /// <summary>The entry's settings under the [*] section's, under the model's own section's.</summary>
    private static ModelSettings Merge(ModelSettings settings, Section? all, Section? own, string directory, string file)
    {
        foreach (var section in new[] { all, own })
        {
            if (section is null)
                continue;
            foreach (var (canonical, (key, s)) in section.Keys)
            {
                settings = canonical switch
                {
                    "ctx-size" => settings with { ContextPerSequence = Integer(s, key, 0, 1 << 24, file) },
                    "parallel" => settings with { Parallel = Integer(s, key, 1, 256, file) },
                    "cache-type-k" => settings with { CacheTypeK = CacheType(s, key, file) },
                    "cache-type-v" => settings with { CacheTypeV = CacheType(s, key, file) },
                    "temp" => settings with { Temperature = Number(s, key, 0, 100, file) },
                    "top-p" => settings with { TopP = Number(s, key, 0, 1, file) },
                    "top-k" => settings with { TopK = Integer(s, key, 0, 1 << 20, file) },
                    "min-p" => settings with { MinP = Number(s, key, 0, 1, file) },
                    "chat-template-file" => settings with { ChatTemplateFile = ExistingFile(s, key, directory, file) },
                    "load-on-startup" => settings with
                    {
                        LoadOnStartup = s.Value switch { "true" or "1" or "on" => true, "false" or "0" or "off" => false, _ => throw Error(file, s.Line, key, $"must be true or false, got '{s.Value}'") },
                    },
                    _ => settings, // model and alias are read by Apply; the GPU switches do nothing here
                };
            }
        }

        return settings;
    }

    private static int Integer(Setting s, string key, int min, int max, string file) =>
        int.TryParse(s.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max
            ? v : throw Error(file, s.Line, key, $"must be a whole number from {min} to {max}, got '{s.Value}'");

    private static float Number(Setting s, string key, float min, float max, string file) =>
        float.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && v >= min && v <= max
            ? v : throw Error(file, s.Line, key, $"must be a number from {min} to {max}, got '{s.Value}'");

    private static string CacheType(Setting s, string key, string file)
    {
        try
        {
            KvCache.ParseType(s.Value);
            return s.Value;
        }
        catch (ArgumentException e)
        {
            throw Error(file, s.Line, key, e.Message);
        }
    }

    private static string ExistingFile(Setting s, string key, string directory, string file)
    {
        string full = Path.GetFullPath(s.Value, directory);
        return File.Exists(full) ? full : throw Error(file, s.Line, key, $"{full} does not exist");
    }

    private static string Unquote(string value) =>
        value.Length >= 2 && value[0] == value[^1] && value[0] is '"' or '\'' ? value[1..^1] : value;

    private static ArgumentException Error(string file, int line, string key, string message) =>
        new($"{file}:{line}: '{key}' {message}");
}
