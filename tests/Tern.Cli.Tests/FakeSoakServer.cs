using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Cli.Tests;

/// <summary>
/// A broken server on loopback for `tern soak` to find fault with: chat requests get, in turn, a 500, a connection
/// closed without an answer, and a 200 that is not a chat completion (a stream cut before [DONE]); /metrics shows
/// <see cref="BlocksHeld"/> KV blocks held by requests. Every answer closes its connection.
/// </summary>
internal sealed class FakeSoakServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _chats;

    public FakeSoakServer(int blocksHeld)
    {
        BlocksHeld = blocksHeld;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int BlocksHeld { get; }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = Task.Run(() => AnswerAsync(socket));
            }
        }
        catch (OperationCanceledException)
        {
            // disposed
        }
    }

    private async Task AnswerAsync(TcpClient socket)
    {
        using (socket)
        {
            try
            {
                var stream = socket.GetStream();
                var (method, path, body) = await ReadRequestAsync(stream);
                string metrics = $"vllm:num_requests_running{{model_name=\"fake\"}} 0\nvllm:num_requests_waiting{{model_name=\"fake\"}} 0\n"
                    + $"vllm:kv_cache_usage_perc{{model_name=\"fake\"}} {BlocksHeld / 100.0}\ntern_kv_blocks_used {BlocksHeld}\ntern_kv_blocks_cached 0\ntern_kv_blocks_total 100\n";
                string error = """{"error":{"message":"nope","type":"invalid_request_error"}}""";
                var answer = (method, path) switch
                {
                    ("GET", "/v1/models") => (200, "application/json", """{"object":"list","data":[{"id":"fake","object":"model"}]}"""),
                    ("GET", "/metrics") => (200, "text/plain", metrics),
                    ("POST", "/v1/chat/completions") => Chat(body),
                    _ => (404, "application/json", error),
                };
                if (answer.Item1 == 0)
                    return; // drop the connection unanswered
                byte[] content = Encoding.UTF8.GetBytes(answer.Item3);
                string head = $"HTTP/1.1 {answer.Item1} X\r\nContent-Type: {answer.Item2}\r\nContent-Length: {content.Length}\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                await stream.WriteAsync(content);
            }
            catch (IOException)
            {
                // the client went away
            }
        }
    }

    private (int, string, string) Chat(string body) => (Interlocked.Increment(ref _chats) % 3) switch
    {
        0 => (500, "application/json", """{"error":{"message":"internal error","type":"server_error"}}"""),
        1 => (0, "", ""),
        _ => body.Contains("\"stream\":true", StringComparison.Ordinal)
            ? (200, "text/event-stream", "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n")
            : (200, "application/json", """{"object":"chat.completion","choices":[]}"""),
    };

    private static async Task<(string Method, string Path, string Body)> ReadRequestAsync(NetworkStream stream)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await stream.ReadAsync(one) == 0)
                throw new IOException("closed before the request's head ended");
            head.Add(one[0]);
        }

        string[] lines = Encoding.ASCII.GetString([.. head]).Split("\r\n");
        string[] requestLine = lines[0].Split(' ');
        int length = lines.Skip(1).Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            .Select(p => int.Parse(p[1].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        var body = new byte[length];
        await stream.ReadExactlyAsync(body);
        return (requestLine[0], requestLine[1], Encoding.UTF8.GetString(body));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
