using ArchNet.IR;

namespace ArchNet.Frontend.Data;

/// <summary>
/// The preprocessing of a model family, named as users know it (<c>images:DIR?preset=NAME</c>); explicit options win.
/// <list type="bullet">
/// <item><c>imagenet</c>: torchvision's ImageNet evaluation: shorter side to 256 (for a 224 input; 8/7 of the input size
/// in general), centre crop, pixels / 255, mean 0.485,0.456,0.406, std 0.229,0.224,0.225.</item>
/// <item><c>mobilenet</c>: the same resize and crop, pixels to [-1, 1] (/ 255, mean 0.5, std 0.5), as Keras' and
/// TensorFlow's MobileNet preprocessing.</item>
/// <item><c>raw</c>: stretched to the input size, pixels / 255 in [0, 1], no normalisation.</item>
/// </list>
/// </summary>
public sealed record ImagePreset(string Name, float Scale, float[]? Mean, float[]? Std, bool CentreCrop)
{
    /// <summary>The shorter side before the centre crop (256 for 224, as torchvision's reference scripts), or null: stretched.</summary>
    public int? ResizeFor(int width, int height) => CentreCrop ? (int)Math.Round(Math.Max(width, height) * 256.0 / 224.0) : null;
}

public static class ImagePresets
{
    public static IReadOnlyList<ImagePreset> All { get; } =
    [
        new("imagenet", 255f, [0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f], CentreCrop: true),
        new("mobilenet", 255f, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f], CentreCrop: true),
        new("raw", 255f, null, null, CentreCrop: false),
    ];

    public static ImagePreset Get(string name, DataSpec spec) =>
        All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArchNetException($"data {spec}: unknown preset '{name}' (known: {string.Join(", ", All.Select(p => p.Name))})");
}
