using ArchNet.IR;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace ArchNet.Frontend.Data;

/// <summary>How images become a model input: size, channel order in memory, scaling and per-channel mean/std.</summary>
/// <param name="ResizeShorter">When set, each image is first resized (aspect kept) so that its shorter side has this many
/// pixels, then its centre <paramref name="Width"/> x <paramref name="Height"/> is cut out (torchvision's Resize +
/// CenterCrop); when null, it is stretched to the size.</param>
public sealed record ImageOptions(int Width, int Height, bool Grayscale = false, bool ChannelsLast = false,
    float Scale = 255f, float[]? Mean = null, float[]? Std = null, int? ResizeShorter = null);

/// <summary>
/// A folder of images (PNG, JPEG, BMP, GIF, TIFF, WebP, TGA, PBM), subfolders included, sorted by path relative to the
/// folder (ordinal, so the order is the same everywhere), each resized (bilinear: stretched, or shorter side then centre
/// crop) and converted to float32 (pixel / Scale - mean) / std, stacked N x C x H x W (or N x H x W x C). Labels come
/// from the first-level subfolder names (classes sorted, as torchvision's ImageFolder numbers them) or from a CSV.
/// </summary>
public static class ImageFolder
{
    private static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".tga", ".pbm"];

    public static IReadOnlyList<string> Files(string dir)
    {
        if (!Directory.Exists(dir)) throw new ArchNetException($"image folder '{dir}' does not exist");
        var files = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .OrderBy(f => Path.GetRelativePath(dir, f).Replace('\\', '/'), StringComparer.Ordinal).ToList();
        if (files.Count == 0)
            throw new ArchNetException($"image folder '{dir}' holds no {string.Join("/", Extensions)} files (subfolders included)");
        return files;
    }

    /// <summary>
    /// The class index of each image of <see cref="Files"/> (the first <paramref name="count"/>): from
    /// <paramref name="csv"/> (rows FILE,LABEL with FILE relative to the folder or a bare file name, LABEL an integer; a
    /// header row is skipped) or, without one, from the first-level subfolder each image lies in, the subfolder names
    /// sorted (ordinal) and numbered from 0.
    /// </summary>
    public static long[] Labels(string dir, string? csv, int? count = null)
    {
        var files = Files(dir);
        if (count is { } c) files = [.. files.Take(c)];
        var relative = files.Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/')).ToList();
        if (csv is null)
        {
            var outside = relative.FirstOrDefault(r => !r.Contains('/'));
            if (outside is not null)
                throw new ArchNetException($"image folder '{dir}': labels come from subfolder names, but '{outside}' lies in no subfolder " +
                    "(put each class in a subfolder, or give labels=FILE.csv)");
            var classes = relative.Select(r => r[..r.IndexOf('/')]).Distinct().Order(StringComparer.Ordinal).ToList();
            return [.. relative.Select(r => (long)classes.IndexOf(r[..r.IndexOf('/')]))];
        }
        if (!File.Exists(csv)) throw new ArchNetException($"labels file '{csv}' does not exist");
        var byName = new Dictionary<string, long>(StringComparer.Ordinal);
        var lines = File.ReadAllLines(csv);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0) continue;
            var comma = line.LastIndexOf(',');
            var label = comma > 0 ? line[(comma + 1)..].Trim() : "";
            if (!long.TryParse(label, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value))
            {
                if (i == 0) continue; // a header
                throw new ArchNetException($"{csv}:{i + 1}: expected FILE,LABEL with an integer LABEL, found '{line}'");
            }
            byName[line[..comma].Trim().Trim('"').Replace('\\', '/')] = value;
        }
        return [.. relative.Select(r => byName.TryGetValue(r, out var v) ? v
            : byName.TryGetValue(Path.GetFileName(r), out var w) ? w
            : throw new ArchNetException($"{csv}: no label for image '{r}' of folder '{dir}'"))];
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
        if (options.ResizeShorter is { } s && s < Math.Max(w, h))
            throw new ArchNetException($"image options: resize={s} is smaller than the crop {w}x{h}");
        var unreadable = new List<string>();
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
                    UnknownImageFormatException => "not a PNG, JPEG, BMP, GIF, TIFF, WebP, TGA or PBM image, or damaged",
                    ImageFormatException or NotSupportedException or InvalidOperationException => e.Message.Split('\n')[0].Trim(),
                    _ => $"damaged: the decoder failed with {e.GetType().Name}",
                };
                unreadable.Add($"{files[n]}: cannot read the image ({why})");
                continue;
            }
            using (image)
            {
                if (options.ResizeShorter is { } shorter)
                {
                    // torchvision: the longer side becomes int(shorter * long / short); the crop's corner rounds to nearest.
                    var (iw, ih) = (image.Width, image.Height);
                    var (rw, rh) = iw <= ih ? (shorter, (int)((long)shorter * ih / iw)) : ((int)((long)shorter * iw / ih), shorter);
                    var (left, top) = ((int)Math.Round((rw - w) / 2.0), (int)Math.Round((rh - h) / 2.0));
                    image.Mutate(x => x.Resize(new ResizeOptions { Size = new Size(rw, rh), Mode = ResizeMode.Stretch, Sampler = KnownResamplers.Triangle })
                        .Crop(new Rectangle(left, top, w, h)));
                }
                else
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
        // Every unreadable file is named (none is skipped), on the one line an error has.
        if (unreadable.Count == 1) throw new ArchNetException(unreadable[0]);
        if (unreadable.Count > 1)
            throw new ArchNetException($"image folder '{dir}': {unreadable.Count} of {files.Count} images cannot be read: {string.Join("; ", unreadable)}");
        long[] shape = options.ChannelsLast ? [files.Count, h, w, channels] : [files.Count, channels, h, w];
        return TensorData.FromFloats(shape, values);
    }
}
