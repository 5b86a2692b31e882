using System.Text;

namespace Tern.Tokenizers.Tests;

public sealed class SpaceCleanupTests
{
    [Theory]
    [InlineData("Hello , world !", "Hello, world!")]
    [InlineData("Really ? Yes .", "Really? Yes.")]
    [InlineData("  ?", " ?")] // one space goes, not all
    [InlineData("a ' b", "a'b")]
    [InlineData(" ' ' ", "'' ")] // the space swallowed after the first quote cannot serve the second
    [InlineData("it 's", "it's")]
    [InlineData("I 'm", "I'm")]
    [InlineData("you 're", "you're")]
    [InlineData("we 've", "we've")]
    [InlineData("don 't", "don 't")]
    [InlineData("I 'd", "I 'd")]
    [InlineData("we 'll", "we 'll")]
    [InlineData("you 'RE", "you 'RE")] // case-sensitive
    [InlineData("x 'r", "x 'r")] // 're cut short at the end
    [InlineData(" ?", "?")]
    [InlineData("", "")]
    public void Cleanup_removes_spaces_exactly_where_llama_cpp_does(string input, string expected)
    {
        Assert.Equal(expected, Batch(input));
        Assert.Equal(expected, Streamed(input));
    }

    [Fact]
    public void Streaming_cleanup_equals_the_three_batch_passes_on_random_text()
    {
        const string alphabet = " '?!.,smtdrvelx";
        var random = new Random(20261124);
        for (int n = 0; n < 30_000; n++)
        {
            var sb = new StringBuilder();
            int length = random.Next(0, 14);
            for (int i = 0; i < length; i++)
                sb.Append(alphabet[random.Next(alphabet.Length)]);
            string text = sb.ToString();
            Assert.True(Batch(text) == Streamed(text), $"'{text}': batch '{Batch(text)}', streamed '{Streamed(text)}'");
        }
    }

    private static string Batch(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        int length = SpaceCleanup.Apply(bytes);
        return Encoding.UTF8.GetString(bytes, 0, length);
    }

    private static string Streamed(string text)
    {
        var stream = new SpaceCleanup.Stream();
        var output = new List<byte>();
        foreach (byte b in Encoding.UTF8.GetBytes(text))
            stream.Push(b, output);
        stream.Flush(output);
        return Encoding.UTF8.GetString(output.ToArray());
    }
}
