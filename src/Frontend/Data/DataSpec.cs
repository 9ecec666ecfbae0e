using System.Globalization;
using ArchNet.IR;

namespace ArchNet.Frontend.Data;

/// <summary>Which reader a data SPEC names.</summary>
public enum DataKind { Npy, Npz, Idx, Images, Random }

/// <summary>
/// A data SPEC as the CLI takes it (--calib, --eval, --eval-labels):
/// <code>
///   KIND:PATH[:COUNT][?KEY=VALUE&amp;...]       KIND is npy, npz, idx or images
///   random:COUNT[?seed=S&amp;min=A&amp;max=B]           uniform random inputs (low confidence: no real data)
/// </code>
/// COUNT keeps the first COUNT items. Options of images: size=WxH (default: the model input's), gray=1, layout=nhwc,
/// scale=255, mean=a,b,c, std=a,b,c, resize=S (shorter side to S, then the centre WxH), preset=imagenet|mobilenet|raw
/// (<see cref="ImagePresets"/>; options given as well override it), labels=FILE.csv (for --eval-labels; without it, an
/// images: labels spec takes the subfolder names). A PATH may itself contain ':' (the COUNT is the last ':'-part when it is a number).
/// Examples: <c>idx:/data/train-images-idx3-ubyte.gz:256</c>, <c>npz:calib.npz</c>,
/// <c>images:photos/?size=224x224&amp;mean=0.485,0.456,0.406&amp;std=0.229,0.224,0.225</c>, <c>random:32</c>.
/// </summary>
public sealed record DataSpec(DataKind Kind, string Path, int? Count, IReadOnlyDictionary<string, string> Options)
{
    public const string Syntax = "KIND:PATH[:COUNT][?key=value&...] with KIND npy|npz|idx|images, or random:COUNT[?seed=S&min=A&max=B]";

    /// <summary>Random inputs measure nothing about real data: reports mark figures from them low-confidence.</summary>
    public bool IsLowConfidence => Kind == DataKind.Random;

    public static DataSpec Parse(string text)
    {
        var colon = text.IndexOf(':');
        if (colon <= 0) throw Bad(text, "no KIND: prefix");
        var kindText = text[..colon].ToLowerInvariant();
        var kind = kindText switch
        {
            "npy" => DataKind.Npy,
            "npz" => DataKind.Npz,
            "idx" => DataKind.Idx,
            "images" => DataKind.Images,
            "random" => DataKind.Random,
            _ => throw Bad(text, $"unknown kind '{text[..colon]}'"),
        };
        var rest = text[(colon + 1)..];
        var options = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var q = rest.IndexOf('?');
        if (q >= 0)
        {
            foreach (var pair in rest[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=');
                if (eq <= 0) throw Bad(text, $"option '{pair}' is not key=value");
                options[pair[..eq].ToLowerInvariant()] = pair[(eq + 1)..];
            }
            rest = rest[..q];
        }
        var known = KnownOptions(kind);
        foreach (var key in options.Keys.Where(k => !known.Contains(k)))
            throw Bad(text, known.Length == 0
                ? $"{kindText} takes no options, found '{key}'"
                : $"unknown option '{key}' for {kindText} (known: {string.Join(", ", known)})");
        if (kind == DataKind.Random)
        {
            if (!int.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0)
                throw Bad(text, "random needs a positive count, e.g. random:32");
            return new DataSpec(kind, "", n, options);
        }
        int? count = null;
        var last = rest.LastIndexOf(':');
        if (last >= 0 && int.TryParse(rest[(last + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var c))
        {
            if (c <= 0) throw Bad(text, "COUNT must be positive");
            count = c;
            rest = rest[..last];
        }
        if (rest.Length == 0) throw Bad(text, "no PATH");
        return new DataSpec(kind, rest, count, options);
    }

    private static ArchNetException Bad(string text, string why) => new($"data spec '{text}': {why}; expected {Syntax}");

    /// <summary>The options each kind reads; any other key is a typo, refused rather than ignored.</summary>
    private static string[] KnownOptions(DataKind kind) => kind switch
    {
        DataKind.Images => ["size", "gray", "layout", "scale", "mean", "std", "preset", "resize", "labels"],
        DataKind.Random => ["seed", "min", "max"],
        _ => [],
    };

    /// <summary>Option <paramref name="key"/> as a number (invariant culture), or <paramref name="fallback"/> when absent.</summary>
    public float FloatOption(string key, float fallback) =>
        Options.TryGetValue(key, out var v) ? ParseFloat(key, v) : fallback;

    /// <summary>Option <paramref name="key"/> as an integer, or <paramref name="fallback"/> when absent.</summary>
    public int IntOption(string key, int fallback) =>
        !Options.TryGetValue(key, out var v) ? fallback
        : int.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n
        : throw new ArchNetException($"data spec '{this}': option {key}={v} is not an integer");

    /// <summary>Option <paramref name="key"/> as comma-separated numbers, or null when absent.</summary>
    public float[]? FloatsOption(string key) =>
        Options.TryGetValue(key, out var v) ? [.. v.Split(',').Select(x => ParseFloat(key, x))] : null;

    private float ParseFloat(string key, string value) =>
        float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && float.IsFinite(f) ? f
        : throw new ArchNetException($"data spec '{this}': option {key}: '{value}' is not a finite number");

    public override string ToString() =>
        (Kind == DataKind.Random ? $"random:{Count}" : $"{Kind.ToString().ToLowerInvariant()}:{Path}{(Count is { } c ? $":{c}" : "")}")
        + (Options.Count > 0 ? "?" + string.Join("&", Options.Select(kv => $"{kv.Key}={kv.Value}")) : "");
}

/// <summary>Items of data for a model: one stacked array per model input (N along axis 0), or labels.</summary>
public sealed record Dataset(IReadOnlyDictionary<string, TensorData> Arrays, int Count, bool LowConfidence, string Description);

/// <summary>What the loader needs to know about a model input to shape data for it.</summary>
public sealed record InputSignature(string Name, ElementType ElementType, long?[] Shape);

/// <summary>Loads a <see cref="DataSpec"/> for a model's inputs.</summary>
public static class DataLoader
{
    public static Dataset Load(DataSpec spec, IReadOnlyList<InputSignature> inputs)
    {
        if (inputs.Count == 0) throw new ArchNetException("the model has no inputs to feed");
        Dictionary<string, TensorData> arrays;
        switch (spec.Kind)
        {
            case DataKind.Npy:
                RequireSingle(spec, inputs);
                arrays = new() { [inputs[0].Name] = Take(Npy.Read(RequireFile(spec.Path)), spec.Count) };
                break;
            case DataKind.Npz:
            {
                var all = Npz.Read(RequireFile(spec.Path));
                arrays = [];
                foreach (var input in inputs)
                {
                    if (!all.TryGetValue(input.Name, out var a))
                    {
                        if (inputs.Count == 1 && all.Count == 1) a = all.Values.First();
                        else throw new ArchNetException($"{spec.Path}: no array named '{input.Name}' (has {string.Join(", ", all.Keys)})");
                    }
                    arrays[input.Name] = Take(a, spec.Count);
                }
                break;
            }
            case DataKind.Idx:
                RequireSingle(spec, inputs);
                arrays = new() { [inputs[0].Name] = Idx.Read(RequireFile(spec.Path), spec.Count) };
                break;
            case DataKind.Images:
                RequireSingle(spec, inputs);
                arrays = new() { [inputs[0].Name] = ImageFolder.Read(spec.Path, ImageOptionsFor(spec, inputs[0]), spec.Count) };
                break;
            default:
                arrays = inputs.ToDictionary(i => i.Name, i => RandomArray(spec, i));
                break;
        }
        int Items(TensorData a) => a.Dims.Length == 0 ? 1 : (int)a.Dims[0];
        var counts = arrays.Values.Select(Items).Distinct().ToList();
        if (counts.Count != 1)
            throw new ArchNetException($"data {spec}: the inputs' arrays hold different item counts (" +
                string.Join(", ", inputs.Select(i => $"'{i.Name}' {Items(arrays[i.Name])}{(arrays[i.Name].Dims.Length == 0 ? " (a scalar)" : "")}")) +
                "): every input's array is N items along its first axis");
        foreach (var input in inputs) CheckArray(spec, input, arrays[input.Name]);
        return new Dataset(arrays, counts[0], spec.IsLowConfidence, spec.ToString());
    }

    /// <summary>Labels for accuracy: int64 [N] from IDX, .npy or a one-array .npz.</summary>
    public static long[] LoadLabels(DataSpec spec)
    {
        var data = spec.Kind switch
        {
            DataKind.Idx => Idx.Read(RequireFile(spec.Path), spec.Count),
            DataKind.Npy => Take(Npy.Read(RequireFile(spec.Path)), spec.Count),
            DataKind.Npz => Take(Npz.Read(RequireFile(spec.Path)).Values.FirstOrDefault()
                ?? throw new ArchNetException($"{spec.Path}: empty .npz"), spec.Count),
            DataKind.Images => ImageFolder.Labels(spec.Path, spec.Options.GetValueOrDefault("labels"), spec.Count) is var l
                ? TensorData.FromInt64s([l.Length], l) : null!,
            _ => throw new ArchNetException($"labels spec '{spec}': labels come from idx, npy, npz or images (subfolder names or labels=FILE.csv)"),
        };
        if (data.Dims.Length != 1 && !(data.Dims.Length == 2 && data.Dims[1] == 1))
            throw new ArchNetException($"labels {spec}: expected a vector of class indices, got shape [{string.Join(",", data.Dims)}]");
        return data.ToInt64s();
    }

    private static void RequireSingle(DataSpec spec, IReadOnlyList<InputSignature> inputs)
    {
        if (inputs.Count != 1)
            throw new ArchNetException($"data {spec}: the model has {inputs.Count} inputs ({string.Join(", ", inputs.Select(i => i.Name))}); use npz: with one array per input");
    }

    private static string RequireFile(string path) =>
        File.Exists(path) ? path : throw new ArchNetException($"data file '{path}' does not exist");

    /// <summary>The first <paramref name="count"/> items along axis 0.</summary>
    public static TensorData Take(TensorData data, int? count)
    {
        if (count is not { } c || data.Dims.Length == 0 || c >= data.Dims[0]) return data;
        var itemBytes = data.ElementType.ByteCount(data.ElementCount / data.Dims[0]);
        return new TensorData(data.ElementType, [c, .. data.Dims.Skip(1)], data.Raw[..checked((int)(itemBytes * c))]);
    }

    /// <summary>Item <paramref name="index"/> .. index+count along axis 0, as its own array.</summary>
    public static TensorData Slice(TensorData data, int index, int count)
    {
        var itemBytes = checked((int)data.ElementType.ByteCount(data.ElementCount / data.Dims[0]));
        return new TensorData(data.ElementType, [count, .. data.Dims.Skip(1)], data.Raw.Slice(index * itemBytes, count * itemBytes));
    }

    /// <summary>The array fits the input: its element type (float64 arrays were read as float32), rank and static
    /// sizes; and float data is finite (a NaN or infinity would turn every statistic and figure into NaN).</summary>
    private static void CheckArray(DataSpec spec, InputSignature input, TensorData data)
    {
        if (data.ElementType != input.ElementType)
            throw new ArchNetException($"data {spec}: input '{input.Name}' takes {input.ElementType.ShortName()}, the data is {data.ElementType.ShortName()}; " +
                $"convert the array to {input.ElementType.ShortName()} (e.g. numpy's astype)");
        if (data.ElementType == ElementType.Float)
        {
            var values = data.Span<float>();
            var perItem = data.Dims.Length == 0 ? 1 : data.ElementCount / Math.Max(1, data.Dims[0]);
            for (var i = 0; i < values.Length; i++)
                if (!float.IsFinite(values[i]))
                    throw new ArchNetException($"data {spec}: input '{input.Name}' holds {values[i].ToString(CultureInfo.InvariantCulture)} " +
                        $"(item {i / perItem}, element {i % perItem}); calibration and evaluation need finite values");
        }
        var want = input.Shape;
        if (want.Length != data.Dims.Length)
            throw new ArchNetException($"data {spec}: input '{input.Name}' has rank {want.Length} ([{Dims(want)}]), the data is [{string.Join(",", data.Dims)}]");
        for (var i = 1; i < want.Length; i++)
            if (want[i] is { } d && d != data.Dims[i])
                throw new ArchNetException($"data {spec}: input '{input.Name}' is [{Dims(want)}], the data is [{string.Join(",", data.Dims)}] (axis {i})");
    }

    private static string Dims(long?[] shape) => string.Join(",", shape.Select(d => d?.ToString(CultureInfo.InvariantCulture) ?? "?"));

    private static ImageOptions ImageOptionsFor(DataSpec spec, InputSignature input)
    {
        var preset = spec.Options.TryGetValue("preset", out var named) ? ImagePresets.Get(named, spec) : null;
        var o = spec.Options;
        var layout = o.GetValueOrDefault("layout", "nchw").ToLowerInvariant();
        if (layout is not ("nchw" or "nhwc"))
            throw new ArchNetException($"data {spec}: layout must be nchw or nhwc, found '{o["layout"]}'");
        var nhwc = layout == "nhwc";
        int w, h;
        if (o.TryGetValue("size", out var size))
        {
            var parts = size.Split('x');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out w)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out h) || w <= 0 || h <= 0)
                throw new ArchNetException($"data {spec}: size must be WxH with positive sizes, e.g. 224x224, found '{size}'");
        }
        else
        {
            var s = input.Shape;
            var (hi, wi) = nhwc ? (1, 2) : (2, 3);
            if (s.Length != 4 || s[hi] is not { } hh || s[wi] is not { } ww)
                throw new ArchNetException($"data {spec}: input '{input.Name}' has no static image size; give size=WxH");
            (w, h) = ((int)ww, (int)hh);
        }
        var gray = o.TryGetValue("gray", out var g)
            ? g switch
            {
                "1" or "true" => true,
                "0" or "false" => false,
                _ => throw new ArchNetException($"data {spec}: gray must be 1, 0, true or false, found '{g}'"),
            }
            : input.Shape.Length == 4 && input.Shape[nhwc ? 3 : 1] == 1;
        var scale = spec.FloatOption("scale", preset?.Scale ?? 255f);
        if (scale <= 0) throw new ArchNetException($"data {spec}: scale must be positive (pixels are divided by it), found {scale}");
        var std = spec.FloatsOption("std") ?? preset?.Std;
        if (std?.Contains(0f) == true) throw new ArchNetException($"data {spec}: std must not be 0 (values are divided by it)");
        var mean = spec.FloatsOption("mean") ?? preset?.Mean;
        if (gray && preset?.Mean is { Length: 3 } && !o.ContainsKey("mean"))
            throw new ArchNetException($"data {spec}: preset={o["preset"]} normalises 3 colour channels; this input is gray: give mean= and std=");
        int? resize = o.ContainsKey("resize") ? spec.IntOption("resize", 0) : preset?.ResizeFor(w, h);
        if (resize is <= 0) throw new ArchNetException($"data {spec}: resize must be a positive number of pixels (the shorter side), found {resize}");
        return new ImageOptions(w, h, gray, nhwc, scale, mean, std, resize);
    }

    private static TensorData RandomArray(DataSpec spec, InputSignature input)
    {
        var seed = spec.IntOption("seed", 0);
        var (min, max) = (spec.FloatOption("min", 0f), spec.FloatOption("max", 1f));
        if (min > max) throw new ArchNetException($"data {spec}: min ({min}) is above max ({max})");
        var dims = input.Shape.Select((d, i) => i == 0 ? spec.Count!.Value : d ?? throw new ArchNetException(
            $"data {spec}: input '{input.Name}' axis {i} is symbolic; random data needs a static shape (give its size with --dim NAME=SIZE)")).Select(d => (long)d).ToArray();
        var count = dims.Aggregate(1L, (a, b) => a * b);
        var rng = new Random(seed); // seeded: the same spec gives the same data
        if (input.ElementType == ElementType.Int64)
            return TensorData.FromInt64s(dims, [.. Enumerable.Range(0, (int)count).Select(_ => (long)rng.NextInt64((long)min, (long)max + 1))]);
        return TensorData.FromFloats(dims, [.. Enumerable.Range(0, (int)count).Select(_ => min + (max - min) * rng.NextSingle())]);
    }
}
