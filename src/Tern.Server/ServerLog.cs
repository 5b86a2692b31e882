using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Tern.Server;

/// <summary>
/// The server's logging (Microsoft.Extensions.Logging): on standard error (standard output keeps the lines it always
/// had, "listening on ..."), as text (one line a message) or json (one object a line), or with --log-file appended to
/// that file in the same format. Information and up, with ASP.NET Core's warnings; --verbose: debug messages too,
/// ASP.NET Core's included.
/// </summary>
internal static class ServerLog
{
    private const string Timestamp = "yyyy-MM-ddTHH:mm:ss.fffZ ";

    public static void Configure(ILoggingBuilder logging, ServerOptions options)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(options.Verbose ? LogLevel.Debug : LogLevel.Information);
        if (!options.Verbose)
            logging.AddFilter("Microsoft", LogLevel.Warning);
        if (options.LogFile is { } file)
        {
            logging.AddProvider(new FileLoggerProvider(file, options.LogFormat == "json"));
            return;
        }

        if (!options.LogToConsole)
            return;
        logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
        if (options.LogFormat == "json")
            logging.AddJsonConsole(json => { json.TimestampFormat = Timestamp.TrimEnd(); json.UseUtcTimestamp = true; });
        else
            logging.AddSimpleConsole(text => { text.SingleLine = true; text.TimestampFormat = Timestamp; text.UseUtcTimestamp = true; });
    }
}

/// <summary>
/// --log-file: every message appended to the file as one line, text or JSON (the JSON console formatter's shape:
/// Timestamp, EventId, LogLevel, Category, Message, Exception, State with the message's named values).
/// </summary>
internal sealed class FileLoggerProvider : ILoggerProvider
{
    private readonly StreamWriter _writer;
    private readonly bool _json;
    private bool _closed;

    public FileLoggerProvider(string path, bool json)
    {
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite), new UTF8Encoding(false)) { AutoFlush = true };
        _json = json;
    }

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void Dispose()
    {
        lock (_writer)
        {
            _closed = true;
            _writer.Dispose();
        }
    }

    private void Write(string line)
    {
        lock (_writer)
        {
            if (!_closed) // a late message (a model load outliving the server) is dropped
                _writer.WriteLine(line);
        }
    }

    private sealed class FileLogger(FileLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string message = formatter(state, exception);
            string time = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
            provider.Write(provider._json ? Json(time, logLevel, eventId, message, exception, state)
                : $"{time} {logLevel} {category}: {message.ReplaceLineEndings(@"\n")}" + (exception is null ? "" : " " + exception.ToString().ReplaceLineEndings(" | ")));
        }

        private string Json<TState>(string time, LogLevel level, EventId eventId, string message, Exception? exception, TState state)
        {
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("Timestamp", time);
                json.WriteNumber("EventId", eventId.Id);
                json.WriteString("LogLevel", level.ToString());
                json.WriteString("Category", category);
                json.WriteString("Message", message);
                if (exception is not null)
                    json.WriteString("Exception", exception.ToString());
                if (state is IEnumerable<KeyValuePair<string, object?>> values)
                {
                    json.WriteStartObject("State");
                    foreach (var (key, value) in values)
                    {
                        switch (value)
                        {
                            case null: json.WriteNull(key); break;
                            case int or long or double or float or decimal: json.WriteNumber(key, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)); break;
                            case bool b: json.WriteBoolean(key, b); break;
                            default: json.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)); break;
                        }
                    }

                    json.WriteEndObject();
                }

                json.WriteEndObject();
            }

            return Encoding.UTF8.GetString(buffer.ToArray());
        }
    }
}
