using ArchNet.IR;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace ArchNet.Frontend.Data;

/// <summary>How images become a model input: size, channel order in memory, scaling and per-channel mean/std.</summary>
public sealed record ImageOptions(int Width, int Height, bool Grayscale = false, bool ChannelsLast = false,
    float Scale = 255f, float[]? Mean = null, float[]? Std = null);

/// <summary>
/// A folder of PNG/JPEG/BMP images (sorted by file name, ordinal, so the order is the same everywhere), each resized
/// (bilinear, stretched) to the options' size and converted to float32 (pixel / Scale - mean) / std, stacked
/// N x C x H x W (or N x H x W x C).
/// </summary>
public static class ImageFolder
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp"];

    public static IReadOnlyList<string> Files(string dir)
    {
        if (!Directory.Exists(dir)) throw new ArchNetException($"image folder '{dir}' does not exist");
        var files = Directory.EnumerateFiles(dir)
            .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new ArchNetException($"image folder '{dir}' holds no .png/.jpg/.jpeg/.bmp files");
        return files;
    }

    public static TensorData Read(string dir, ImageOptions options, int? count = null)
    {
        var files = Files(dir);
        if (count is { } c) files = [.. files.Take(c)];
        int channels = options.Grayscale ? 1 : 3, h = options.Height, w = options.Width;
        var mean = options.Mean ?? new float[channels];
        var std = options.Std ?? Enumerable.Repeat(1f, channels).ToArray();
        if (mean.Length != channels || std.Length != channels)
            throw new ArchNetException($"image options: mean and std need {channels} values each");
        var values = new float[files.Count * channels * h * w];
        for (var n = 0; n < files.Count; n++)
        {
            Image<Rgb24> image;
            try { image = Image.Load<Rgb24>(files[n]); }
            catch (Exception e) when (e is not (OutOfMemoryException or IOException or UnauthorizedAccessException))
            {
                // ImageSharp's message for an unknown format goes on to list every decoder, one per line; on damaged data
                // its decoders also fail with exceptions of their own (null references, sizes out of range), which say
                // no more than that the file is damaged.
                var why = e switch
                {
                    UnknownImageFormatException => "not a PNG, JPEG or BMP image, or damaged",
                    ImageFormatException or NotSupportedException or InvalidOperationException => e.Message.Split('\n')[0].Trim(),
                    _ => $"damaged: the decoder failed with {e.GetType().Name}",
                };
                throw new ArchNetException($"{files[n]}: cannot read the image ({why})");
            }
            using (image)
            {
                image.Mutate(x => x.Resize(new ResizeOptions { Size = new Size(w, h), Mode = ResizeMode.Stretch, Sampler = KnownResamplers.Triangle }));
                var baseIndex = n * channels * h * w;
                image.ProcessPixelRows(rows =>
                {
                    for (var y = 0; y < h; y++)
                    {
                        var row = rows.GetRowSpan(y);
                        for (var x = 0; x < w; x++)
                        {
                            var p = row[x];
                            Span<float> rgb = options.Grayscale
                                ? [(0.299f * p.R + 0.587f * p.G + 0.114f * p.B)]
                                : [p.R, p.G, p.B];
                            for (var ch = 0; ch < channels; ch++)
                            {
                                var v = (rgb[ch] / options.Scale - mean[ch]) / std[ch];
                                var index = options.ChannelsLast ? ((y * w + x) * channels + ch) : ((ch * h + y) * w + x);
                                values[baseIndex + index] = v;
                            }
                        }
                    }
                });
            }
        }
        long[] shape = options.ChannelsLast ? [files.Count, h, w, channels] : [files.Count, channels, h, w];
        return TensorData.FromFloats(shape, values);
    }
}
