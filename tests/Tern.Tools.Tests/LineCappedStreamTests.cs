using System.Text;
using Tern.Tools.Mcp;

namespace Tern.Tools.Tests;

/// <summary>A stdio MCP server's stdout: messages (lines) pass, a line over the cap ends the stream and stops the server.</summary>
public sealed class LineCappedStreamTests
{
    private static (string Read, bool Overflowed) ReadAll(string data, int cap, int chunk)
    {
        bool overflowed = false;
        using var stream = new LineCappedStream(new MemoryStream(Encoding.ASCII.GetBytes(data)), cap, () => overflowed = true);
        var read = new StringBuilder();
        var buffer = new byte[chunk];
        int n;
        while ((n = stream.ReadAsync(buffer).AsTask().GetAwaiter().GetResult()) > 0)
            read.Append(Encoding.ASCII.GetString(buffer, 0, n));
        return (read.ToString(), overflowed);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(64)]
    public void Lines_within_the_cap_pass_whole(int chunk)
    {
        string data = string.Concat(Enumerable.Repeat("{\"id\":1}\n", 20));
        Assert.Equal((data, false), ReadAll(data, 10, chunk));
    }

    [Theory]
    [InlineData(7)]
    [InlineData(4096)]
    public void A_line_over_the_cap_ends_the_stream_and_reports_it(int chunk)
    {
        string data = "{\"id\":1}\n" + new string('x', 1000) + "\n{\"id\":2}\n";
        var (read, overflowed) = ReadAll(data, 100, chunk);
        Assert.True(overflowed);
        Assert.DoesNotContain("{\"id\":2}", read);
        Assert.True(read.Length < 100 + chunk + 10, $"{read.Length} bytes passed");
    }
}
