using Tern.Gguf;

namespace Tern.Models;

/// <summary>Opens a GGUF file (or every part of a split one) and builds the model class of its architecture.</summary>
internal static class ModelLoader
{
    public static readonly string[] Architectures = ["llama", "qwen2", "bitnet", "qwen3", "qwen3moe", "gemma3", "gemma4", "qwen35moe"];

    public static DecoderModel Load(string path, ModelOptions options)
    {
        var file = GgufSplit.Open(path);
        try
        {
            string? architecture = new ModelMetadata(file).String("general.architecture");
            if (architecture is not null && !Architectures.Contains(architecture))
                throw new ModelLoadException(path, $"architecture '{architecture}' is not supported (supported: {string.Join(", ", Architectures)})");
            var h = ModelConfig.FromGguf(file);
            TensorTable.Check(file, h);
            return h.Architecture switch
            {
                "llama" => new Llama(file, h, options),
                "qwen2" => new Qwen2(file, h, options),
                "bitnet" => new Bitnet(file, h, options),
                "qwen3" => new Qwen3(file, h, options),
                "qwen3moe" => new Qwen3Moe(file, h, options),
                "gemma3" => new Gemma3(file, h, options),
                "gemma4" => new Gemma4(file, h, options),
                "qwen35moe" => new Qwen35Moe(file, h, options),
                _ => throw new System.Diagnostics.UnreachableException(),
            };
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
