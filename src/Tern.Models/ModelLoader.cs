using Tern.Gguf;

namespace Tern.Models;

/// <summary>Opens a GGUF file and builds the model class of its architecture.</summary>
internal static class ModelLoader
{
    public static readonly string[] Architectures = ["llama", "qwen2", "bitnet"];

    public static DecoderModel Load(string path, ModelOptions options)
    {
        var file = GgufFile.Open(path);
        try
        {
            var h = Hyperparameters.FromGguf(file);
            return h.Architecture switch
            {
                "llama" => new Llama(file, h, options),
                "qwen2" => new Qwen2(file, h, options),
                "bitnet" => new Bitnet(file, h, options),
                _ => throw new ModelLoadException(path, $"architecture '{h.Architecture}' is not supported (supported: {string.Join(", ", Architectures)})"),
            };
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
