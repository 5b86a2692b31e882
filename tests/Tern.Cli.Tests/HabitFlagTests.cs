namespace Tern.Cli.Tests;

/// <summary>Flags typed from llama.cpp habit run or are explained; a bad command line prints the error line, not the help.</summary>
public sealed class HabitFlagTests
{
    [Theory]
    [InlineData("-ngl", "99", "-ngl is ignored")]
    [InlineData("--n-gpu-layers", "0", "-ngl is ignored")]
    [InlineData("-fa", "on", "-fa is ignored")]
    [InlineData("--jinja", null, "--jinja is the default")]
    public void A_gpu_or_template_flag_runs_with_a_note(string flag, string? value, string note)
    {
        string[] args = value is null ? ["run", "-p", "Once", "-n", "4", "--seed", "1", flag] : ["run", "-p", "Once", "-n", "4", "--seed", "1", flag, value];
        var (code, stdout, stderr) = CliRunner.Run(args);

        Assert.True(code == 0, stderr);
        Assert.Contains(note, stderr);
        Assert.False(string.IsNullOrWhiteSpace(stdout));
    }

    [Fact]
    public void Bare_fa_before_another_flag_is_accepted()
    {
        var (code, _, stderr) = CliRunner.Run("run", "-fa", "-p", "Once", "-n", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("-fa is ignored", stderr);
    }

    [Fact]
    public void The_prompt_comes_from_a_file_or_stdin()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("prompt.txt"), "Once upon a time");
        var (fromFile, fileOut, fileErr) = CliRunner.Run("run", "-f", dir.File("prompt.txt"), "-n", "4", "--temp", "0");
        var stdout = new StringWriter();
        int fromStdin = TernCommand.Run(["run", "-p", "-", "-n", "4", "--temp", "0"], stdout, new StringWriter(), new StringReader("Once upon a time"));
        var (typed, typedOut, _) = CliRunner.Run("run", "-p", "Once upon a time", "-n", "4", "--temp", "0");

        Assert.True(fromFile == 0, fileErr);
        Assert.Equal(0, fromStdin);
        Assert.Equal(0, typed);
        Assert.Equal(typedOut, fileOut);
        Assert.Equal(typedOut, stdout.ToString());
    }

    [Theory]
    [InlineData(new[] { "run", "-n", "4" }, "a prompt is required")]
    [InlineData(new[] { "run", "-p", "x", "-f", "y" }, "not both")]
    [InlineData(new[] { "run", "-f", "/nonexistent/prompt.txt" }, "no such file")]
    public void A_missing_or_doubled_prompt_is_one_clear_line(string[] args, string message)
    {
        var (code, _, stderr) = CliRunner.Run(args);

        Assert.Equal(1, code);
        Assert.Contains(message, stderr);
    }

    [Fact]
    public void A_parse_error_prints_the_error_first_and_no_help_text()
    {
        var (code, stdout, stderr) = CliRunner.Run("run", "-p", "x", "--ctx-size", "lots");

        Assert.Equal(1, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("lots", stderr.Split('\n')[0]);
        Assert.Contains("tern run --help", stderr);
        Assert.DoesNotContain("Description:", stdout + stderr);
    }
}

/// <summary>`tern run --grammar` and `--json-schema`: the continuation is what the grammar allows, whatever the model.</summary>
public sealed class RunGrammarTests
{
    [Fact]
    public void A_gbnf_grammar_shapes_the_text()
    {
        var (code, stdout, stderr) = CliRunner.Run("run", "-p", "Once upon a time", "-n", "40", "--seed", "3",
            "--grammar", """root ::= "yes" | "no" | ("maybe " [a-z]{1,5})""");

        Assert.True(code == 0, stderr);
        Assert.Matches("^(yes|no|maybe [a-z]{1,5})$", stdout.Trim());
    }

    [Fact]
    public void A_json_schema_gives_json_that_validates()
    {
        const string schema = """{"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["name", "age"], "additionalProperties": false}""";
        for (int seed = 1; seed <= 3; seed++)
        {
            var (code, stdout, stderr) = CliRunner.Run("run", "-p", "Once", "-n", "200", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), "-j", schema);

            Assert.True(code == 0, stderr);
            using var json = System.Text.Json.JsonDocument.Parse(stdout);
            Assert.InRange(json.RootElement.GetProperty("age").GetInt32(), 1, 9);
            Assert.True(json.RootElement.GetProperty("name").GetString()!.Length <= 8);
            Assert.Contains("stopped: ", stderr);
        }
    }

    [Theory]
    [InlineData("--grammar", "root ::= (", "--grammar")]
    [InlineData("--json-schema", """{"type": "object", "not": {}}""", "--json-schema")]
    [InlineData("--json-schema", "{oops", "--json-schema")]
    public void A_bad_grammar_is_one_line_naming_the_flag(string flag, string value, string named)
    {
        var (code, _, stderr) = CliRunner.Run("run", "-p", "x", "-n", "4", flag, value);

        Assert.Equal(1, code);
        Assert.StartsWith($"error: {named}", stderr);
    }
}
