using ArchNet.IR;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ArchNet.Passes.Distillation.Lowering;

/// <summary>
/// ONNX semantics of each supported operator as torch operations. Attributes are read when the node is
/// compiled, so an unsupported attribute value is reported before any training starts; values only known at
/// run time (shapes computed in the graph) are read from the tensors.
/// </summary>
internal static class OpKernels
{
    private delegate Kernel Compiler(Node node, LoweringContext context);

    private static readonly Dictionary<string, Compiler> Compilers = new(StringComparer.Ordinal)
    {
        ["Conv"] = Conv,
        ["ConvTranspose"] = ConvTranspose,
        ["Resize"] = Resize,
        ["BatchNormalization"] = BatchNormalization,
        ["Relu"] = Unary(t => F.relu(t)),
        ["LeakyRelu"] = (n, _) => { var a = n.GetFloat("alpha", 0.01f); return One(x => F.leaky_relu(x[0]!, a)); },
        ["Clip"] = Clip,
        ["Sigmoid"] = Unary(t => t.sigmoid()),
        ["HardSigmoid"] = (n, _) =>
        {
            var alpha = n.GetFloat("alpha", 0.2f);
            var beta = n.GetFloat("beta", 0.5f);
            return One(x => (x[0]! * alpha + beta).clamp(0, 1));
        },
        ["HardSwish"] = Unary(t => F.hardswish(t)),
        ["Tanh"] = Unary(t => t.tanh()),
        ["Exp"] = Unary(t => t.exp()),
        ["Log"] = Unary(t => t.log()),
        ["Neg"] = Unary(t => t.neg()),
        ["Abs"] = Unary(t => t.abs()),
        ["Reciprocal"] = Unary(t => t.reciprocal()),
        ["Sqrt"] = Unary(t => t.sqrt()),
        ["Erf"] = Unary(t => t.erf()),
        ["Gelu"] = Gelu,
        ["MaxPool"] = MaxPool,
        ["AveragePool"] = AveragePool,
        ["GlobalAveragePool"] = Unary(t => t.mean(SpatialDims(t), keepdim: true)),
        ["GlobalMaxPool"] = Unary(t => t.amax(SpatialDims(t), keepdim: true)),
        ["Gemm"] = Gemm,
        ["MatMul"] = (_, _) => One(x => x[0]!.matmul(x[1]!)),
        ["Add"] = (_, _) => One(x => x[0]! + x[1]!),
        ["Sub"] = (_, _) => One(x => x[0]! - x[1]!),
        ["Mul"] = (_, _) => One(x => x[0]! * x[1]!),
        ["Div"] = (_, _) => One(x => Divide(x[0]!, x[1]!)),
        ["Pow"] = (_, _) => One(x => x[0]!.pow(x[1]!).to_type(x[0]!.dtype)),
        ["Max"] = (_, _) => One(x => x.Skip(1).Aggregate(x[0]!, (a, b) => a.maximum(b!))),
        ["Min"] = (_, _) => One(x => x.Skip(1).Aggregate(x[0]!, (a, b) => a.minimum(b!))),
        ["Equal"] = (_, _) => One(x => x[0]!.eq(x[1]!)),
        ["Less"] = (_, _) => One(x => x[0]!.lt(x[1]!)),
        ["Greater"] = (_, _) => One(x => x[0]!.gt(x[1]!)),
        ["Not"] = Unary(t => t.logical_not()),
        ["Where"] = (_, _) => One(x => torch.where(x[0]!.to_type(ScalarType.Bool), x[1]!, x[2]!)),
        ["Concat"] = (n, _) => { var axis = Required(n, "axis"); return One(x => torch.cat(x.Select(t => t!).ToArray(), Axis(axis, x[0]!.dim()))); },
        ["Slice"] = Slice,
        ["Split"] = Split,
        ["Reshape"] = Reshape,
        ["Transpose"] = Transpose,
        ["Flatten"] = Flatten,
        ["Squeeze"] = Squeeze,
        ["Unsqueeze"] = Unsqueeze,
        ["Softmax"] = (n, c) => SoftmaxFamily(n, c, log: false),
        ["LogSoftmax"] = (n, c) => SoftmaxFamily(n, c, log: true),
        ["LayerNormalization"] = LayerNormalization,
        ["Gather"] = Gather,
        ["ReduceMean"] = (n, c) => Reduce(n, c, (t, dims, keep) => t.mean(dims, keep), sinceAxesInput: 18),
        ["ReduceSum"] = (n, c) => Reduce(n, c, (t, dims, keep) => t.sum(dims, keep), sinceAxesInput: 13),
        ["ReduceMax"] = (n, c) => Reduce(n, c, (t, dims, keep) => t.amax(dims, keep), sinceAxesInput: 18),
        ["ReduceMin"] = (n, c) => Reduce(n, c, (t, dims, keep) => t.amin(dims, keep), sinceAxesInput: 18),
        ["Identity"] = (_, _) => One(x => x[0]!),
        ["Dropout"] = Dropout,
        ["Cast"] = Cast,
        ["Shape"] = ShapeOf,
        ["ConstantOfShape"] = ConstantOfShape,
        ["Expand"] = (_, _) => One(x => Expand(x[0]!, TorchTensors.ToInt64s(x[1]!))),
        ["Constant"] = Constant,
    };

    public static IEnumerable<string> SupportedOps => Compilers.Keys.Order(StringComparer.Ordinal);

    public static Kernel Compile(Node node, LoweringContext context)
    {
        if (!node.IsDefaultDomain || !Compilers.TryGetValue(node.OpType, out var compile))
            throw new ArchNetException(
                $"node '{node.DisplayName}': op {(node.IsDefaultDomain ? "" : node.Domain + ".")}{node.OpType} has no torch lowering");
        return compile(node, context);
    }

    // ---- helpers -------------------------------------------------------------------------------

    private static Kernel One(Func<Tensor?[], Tensor> f) => x => [f(x)];

    private static Compiler Unary(Func<Tensor, Tensor> f) => (_, _) => x => [f(x[0]!)];

    private static ArchNetException Unsupported(Node node, string what) =>
        new($"node '{node.DisplayName}' ({node.OpType}): {what} is not supported by the torch lowering");

    private static long Required(Node node, string attribute) =>
        node.Attr(attribute)?.AsInt() ?? throw new ArchNetException($"node '{node.DisplayName}' ({node.OpType}) lacks attribute '{attribute}'");

    private static long Axis(long axis, long rank) => axis < 0 ? axis + rank : axis;

    private static long[] SpatialDims(Tensor t) => [.. Enumerable.Range(2, (int)t.dim() - 2).Select(i => (long)i)];

    private static bool IsInteger(Tensor t) => !t.is_floating_point() && t.dtype != ScalarType.Bool;

    private static Tensor Divide(Tensor a, Tensor b) =>
        IsInteger(a) && IsInteger(b) ? a.div(b, torch.RoundingMode.trunc) : a / b;

    private static void RejectUsedOutputs(Node node, int from, string what)
    {
        for (var i = from; i < node.Outputs.Count; i++)
            if (!node.Outputs[i].IsAbsent && (node.Outputs[i].Uses.Count > 0 || node.Graph?.Outputs.Contains(node.Outputs[i]) == true))
                throw Unsupported(node, what);
    }

    /// <summary>Output shape of ONNX Expand: numpy broadcasting of the input shape against the requested one.</summary>
    private static Tensor Expand(Tensor x, long[] shape)
    {
        var rank = Math.Max(x.dim(), shape.Length);
        var result = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            var xi = i - (rank - x.dim()) is var a && a >= 0 ? x.shape[a] : 1;
            var si = i - (rank - shape.Length) is var b && b >= 0 ? shape[b] : 1;
            result[i] = si == 1 ? xi : si;
        }
        var view = x.dim() < rank ? x.reshape([.. Enumerable.Repeat(1L, (int)(rank - x.dim())), .. x.shape]) : x;
        return view.expand(result);
    }

    // ---- convolution and pooling ----------------------------------------------------------------

    /// <summary>Window geometry shared by Conv and the pools: pads as [begin..., end...] per spatial axis.</summary>
    private sealed record Window(long[] Kernel, long[] Strides, long[] Dilations, long[]? Pads, string AutoPad, bool CeilMode)
    {
        public static Window Read(Node node, long[]? kernel)
        {
            var autoPad = node.GetString("auto_pad", "NOTSET");
            if (autoPad is not ("NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER"))
                throw Unsupported(node, $"auto_pad {autoPad}");
            var k = node.GetInts("kernel_shape")?.ToArray() ?? kernel;
            var n = k?.Length;
            long[] Ints(string name, long fill) =>
                node.GetInts(name)?.ToArray() ?? (n is { } m ? [.. Enumerable.Repeat(fill, m)] : []);
            return new Window(k ?? [], Ints("strides", 1), Ints("dilations", 1), node.GetInts("pads")?.ToArray(),
                autoPad, node.GetInt("ceil_mode", 0) != 0);
        }

        /// <summary>Per spatial axis (begin, end) padding for an input of the given spatial sizes.</summary>
        public (long Begin, long End)[] Padding(long[] spatial, long[] kernel)
        {
            var n = spatial.Length;
            var result = new (long, long)[n];
            for (var i = 0; i < n; i++)
            {
                var stride = Strides.Length > i ? Strides[i] : 1;
                var dil = Dilations.Length > i ? Dilations[i] : 1;
                switch (AutoPad)
                {
                    case "VALID":
                        result[i] = (0, 0);
                        break;
                    case "SAME_UPPER" or "SAME_LOWER":
                        var outSize = (spatial[i] + stride - 1) / stride;
                        var total = Math.Max(0, (outSize - 1) * stride + (kernel[i] - 1) * dil + 1 - spatial[i]);
                        var small = total / 2;
                        result[i] = AutoPad == "SAME_UPPER" ? (small, total - small) : (total - small, small);
                        break;
                    default:
                        result[i] = Pads is { } p ? (p[i], p[i + n]) : (0, 0);
                        break;
                }
            }
            return result;
        }
    }

    /// <summary>torch pads last dimension first: (w_begin, w_end, h_begin, h_end).</summary>
    private static long[] TorchPadOrder((long Begin, long End)[] pads) =>
        [.. pads.Reverse().SelectMany(p => new[] { p.Begin, p.End })];

    private static Kernel Conv(Node node, LoweringContext _)
    {
        var weightShape = node.Input(1)?.Shape?.ToArray();
        var window = Window.Read(node, weightShape?[2..]);
        var groups = node.GetInt("group", 1);
        CheckSpatialRank(node, window.Kernel.Length);
        return x =>
        {
            Tensor input = x[0]!, weight = x[1]!;
            var bias = x.Length > 2 ? x[2] : null;
            var oneD = input.dim() == 3;
            if (oneD)
            {
                input = input.unsqueeze(2);
                weight = weight.unsqueeze(2);
            }
            var kernel = weight.shape[2..];
            var spatial = input.shape[2..];
            var pads = oneD ? [(0L, 0L), .. window.Padding(spatial[1..], kernel[1..])] : window.Padding(spatial, kernel);
            var strides = oneD ? [1, .. Or(window.Strides, 1, 1)] : Or(window.Strides, 1, 2);
            var dilations = oneD ? [1, .. Or(window.Dilations, 1, 1)] : Or(window.Dilations, 1, 2);
            long[] padding;
            if (pads.All(p => p.Begin == p.End))
            {
                padding = [.. pads.Select(p => p.Begin)];
            }
            else
            {
                input = F.pad(input, TorchPadOrder(pads));
                padding = [0, 0];
            }
            // Channels-last activations: oneDNN's convolutions run on NHWC without reordering every input and output
            // (measured 1.1-1.5x on fmnist_resnet's 16-64-channel maps); the element-wise ops after a conv keep the layout.
            if (!oneD) input = TorchTensors.ChannelsLast(input);
            var y = F.conv2d(input, weight, bias, strides, padding, dilations, groups);
            return [oneD ? y.squeeze(2) : y];
        };
    }

    /// <summary>
    /// ConvTranspose as torch's full transposed convolution (no padding), then ONNX's window of it per axis
    /// (<see cref="TransposedWindow"/>): cropped where pads remove outputs, extended with zeros where output_padding or
    /// output_shape reach past it; the bias is added after, so those outputs hold it as ONNX's do.
    /// </summary>
    private static Kernel ConvTranspose(Node node, LoweringContext _)
    {
        var autoPad = node.GetString("auto_pad", "NOTSET");
        if (autoPad is not ("NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER")) throw Unsupported(node, $"auto_pad {autoPad}");
        CheckSpatialRank(node, node.Input(1)?.Shape?.Rank is { } r ? r - 2 : 0);
        var groups = node.GetInt("group", 1);
        return x =>
        {
            Tensor input = x[0]!, weight = x[1]!;
            var bias = x.Length > 2 ? x[2] : null;
            var spatial = (int)input.dim() - 2;
            long[] Per(string name) => node.GetInts(name)?.ToArray() ?? [.. Enumerable.Repeat(1L, spatial)];
            var y = spatial == 1
                ? F.conv_transpose1d(input, weight, stride: Per("strides")[0], dilation: Per("dilations")[0], groups: groups)
                : F.conv_transpose2d(input, weight, strides: Per("strides"), dilation: Per("dilations"), groups: groups);
            var pads = new long[2 * spatial];
            for (var i = 0; i < spatial; i++)
            {
                var (begin, count) = TransposedWindow.Of(node, i, spatial, input.shape[2 + i], weight.shape[2 + i]);
                // torch pads the last axis first; a negative pad crops.
                pads[2 * (spatial - 1 - i)] = -begin;
                pads[2 * (spatial - 1 - i) + 1] = begin + count - y.shape[2 + i];
            }
            if (pads.Any(p => p != 0)) y = F.pad(y, pads);
            if (bias is not null) y += bias.reshape([1, -1, .. Enumerable.Repeat(1L, spatial)]);
            return [y];
        };
    }

    /// <summary>Resize (opset 11+) axis by axis from <see cref="ResizeTaps"/>: gathers of the input along each resized axis,
    /// weighted for linear; gradients reach the input through the gathers.</summary>
    private static Kernel Resize(Node node, LoweringContext _)
    {
        if (ResizeTaps.Unsupported(node, node.Inputs.Count) is { } why) throw Unsupported(node, why);
        return One(x =>
        {
            var y = x[0]!;
            var rank = (int)y.dim();
            var input = y.shape.Select(d => (int)d).ToArray();
            var scales = x.Length > 2 && x[2] is { } sc && sc.numel() > 0 ? sc.to_type(ScalarType.Float32).data<float>().ToArray() : null;
            var sizes = x.Length > 3 && x[3] is { } sz && sz.numel() > 0 ? TorchTensors.ToInt64s(sz) : null;
            var (output, used) = ResizeTaps.Sizes(input, scales, sizes);
            for (var d = 0; d < rank; d++)
            {
                var taps = ResizeTaps.Axis(node, input[d], output[d], used[d]);
                if (output[d] == input[d] && taps.Select((t, o) => t.I0 == o && t.W1 == 0).All(same => same)) continue;
                var first = y.index_select(d, torch.tensor(taps.Select(t => (long)t.I0).ToArray(), device: y.device));
                if (taps.All(t => t.W1 == 0)) { y = first; continue; }
                var second = y.index_select(d, torch.tensor(taps.Select(t => (long)t.I1).ToArray(), device: y.device));
                var along = Enumerable.Repeat(1L, rank).ToArray();
                along[d] = output[d];
                Tensor Weights(Func<ResizeTap, float> w) => torch.tensor(taps.Select(w).ToArray(), device: y.device).to_type(y.dtype).reshape(along);
                y = first * Weights(t => t.W0) + second * Weights(t => t.W1);
            }
            return y;
        });
    }

    private static long[] Or(long[] values, long fill, int count) =>
        values.Length == count ? values : [.. Enumerable.Repeat(fill, count)];

    private static void CheckSpatialRank(Node node, int fromKernel)
    {
        var rank = node.Input(0)?.Shape?.Rank;
        if (rank is { } r && r is not (3 or 4))
            throw Unsupported(node, $"{r - 2}-d windows");
        if (fromKernel is not (0 or 1 or 2))
            throw Unsupported(node, $"{fromKernel}-d windows");
    }

    private static Kernel MaxPool(Node node, LoweringContext _)
    {
        var window = Window.Read(node, null);
        CheckSpatialRank(node, window.Kernel.Length);
        if (node.GetInt("storage_order", 0) != 0) throw Unsupported(node, "storage_order 1");
        RejectUsedOutputs(node, 1, "the Indices output");
        return x => [Pool2d(x[0]!, window, (t, k, s, p, d) => F.max_pool2d(t, k, s, p, d, window.CeilMode), double.NegativeInfinity)];
    }

    private static Kernel AveragePool(Node node, LoweringContext _)
    {
        var window = Window.Read(node, null);
        CheckSpatialRank(node, window.Kernel.Length);
        if (window.Dilations.Any(d => d != 1)) throw Unsupported(node, "dilated average pooling");
        var includePad = node.GetInt("count_include_pad", 0) != 0;
        return x =>
        {
            var input = x[0]!;
            var oneD = input.dim() == 3;
            var t = oneD ? input.unsqueeze(2) : input;
            var kernel = oneD ? [1, .. window.Kernel] : window.Kernel;
            var strides = oneD ? [1, .. Or(window.Strides, 1, 1)] : Or(window.Strides, 1, 2);
            var pads = window.Padding(t.shape[2..][(oneD ? 1 : 0)..], window.Kernel);
            if (oneD) pads = [(0, 0), .. pads];
            Tensor y;
            if (pads.Select((p, i) => p.Begin == p.End && p.Begin * 2 <= kernel[i]).All(b => b))
            {
                y = F.avg_pool2d(t, kernel, strides, [.. pads.Select(p => p.Begin)], window.CeilMode, includePad);
            }
            else
            {
                // Asymmetric padding: average of the zero-padded input, divided (when padding is not counted)
                // by the share of each window that lies inside the input.
                var torchPads = TorchPadOrder(pads);
                var sum = F.avg_pool2d(F.pad(t, torchPads), kernel, strides, [0, 0], window.CeilMode, true);
                if (includePad)
                {
                    y = sum;
                }
                else
                {
                    var ones = torch.ones([1, 1, t.shape[2], t.shape[3]], t.dtype);
                    var share = F.avg_pool2d(F.pad(ones, torchPads), kernel, strides, [0, 0], window.CeilMode, true);
                    y = sum / share;
                }
            }
            return [oneD ? y.squeeze(2) : y];
        };
    }

    private delegate Tensor PoolOp(Tensor input, long[] kernel, long[] strides, long[] padding, long[] dilations);

    private static Tensor Pool2d(Tensor input, Window window, PoolOp pool, double padValue)
    {
        var oneD = input.dim() == 3;
        var t = oneD ? input.unsqueeze(2) : input;
        var kernel = oneD ? [1, .. window.Kernel] : window.Kernel;
        var strides = oneD ? [1, .. Or(window.Strides, 1, 1)] : Or(window.Strides, 1, 2);
        var dilations = oneD ? [1, .. Or(window.Dilations, 1, 1)] : Or(window.Dilations, 1, 2);
        var pads = window.Padding(t.shape[2..][(oneD ? 1 : 0)..], window.Kernel);
        if (oneD) pads = [(0, 0), .. pads];
        Tensor y;
        if (pads.Select((p, i) => p.Begin == p.End && p.Begin * 2 <= kernel[i]).All(b => b))
        {
            y = pool(t, kernel, strides, [.. pads.Select(p => p.Begin)], dilations);
        }
        else
        {
            y = pool(F.pad(t, TorchPadOrder(pads), value: padValue), kernel, strides, [0, 0], dilations);
        }
        return oneD ? y.squeeze(2) : y;
    }

    // ---- normalization ------------------------------------------------------------------------

    private static Kernel BatchNormalization(Node node, LoweringContext _)
    {
        if (node.GetInt("training_mode", 0) != 0) throw Unsupported(node, "training_mode 1");
        RejectUsedOutputs(node, 1, "running mean/variance outputs");
        var eps = node.GetFloat("epsilon", 1e-5f);
        return One(x => F.batch_norm(x[0]!, x[3]!, x[4]!, x[1]!, x[2]!, training: false, eps: eps));
    }

    private static Kernel LayerNormalization(Node node, LoweringContext _)
    {
        RejectUsedOutputs(node, 1, "the Mean and InvStdDev outputs");
        var axis = node.GetInt("axis", -1);
        var eps = node.GetFloat("epsilon", 1e-5f);
        return One(x =>
        {
            Tensor input = x[0]!, scale = x[1]!;
            var bias = x.Length > 2 ? x[2] : null;
            var a = Axis(axis, input.dim());
            var normalized = input.shape[(int)a..];
            if (scale.shape.SequenceEqual(normalized) && (bias is null || bias.shape.SequenceEqual(normalized)))
                return F.layer_norm(input, normalized, scale, bias, eps);
            var y = F.layer_norm(input, normalized, null, null, eps) * scale;
            return bias is null ? y : y + bias;
        });
    }

    private static Kernel SoftmaxFamily(Node node, LoweringContext context, bool log)
    {
        var legacy = context.Opset < 13;
        var axis = node.GetInt("axis", legacy ? 1 : -1);
        return One(x =>
        {
            var input = x[0]!;
            var a = Axis(axis, input.dim());
            if (!legacy)
                return log ? input.log_softmax(a) : input.softmax(a);
            // Before opset 13 the input is viewed as 2-D [prod(dims before axis), prod(rest)].
            var shape = input.shape;
            var flat = input.reshape(shape[..(int)a].Aggregate(1L, (p, d) => p * d), -1);
            var y = log ? flat.log_softmax(1) : flat.softmax(1);
            return y.reshape(shape);
        });
    }

    // ---- activations --------------------------------------------------------------------------

    private static Kernel Clip(Node node, LoweringContext _)
    {
        // Before opset 11 the bounds are attributes; from 11 on they are optional inputs.
        float? attrMin = node.HasAttr("min") ? node.GetFloat("min", 0) : null;
        float? attrMax = node.HasAttr("max") ? node.GetFloat("max", 0) : null;
        return One(x =>
        {
            var input = x[0]!;
            double? lo = x.Length > 1 && x[1] is { } a ? TorchTensors.ToScalar(a) : attrMin;
            double? hi = x.Length > 2 && x[2] is { } b ? TorchTensors.ToScalar(b) : attrMax;
            return (lo, hi) switch
            {
                (null, null) => input,
                ({ } l, null) => input.clamp_min(l),
                (null, { } h) => input.clamp_max(h),
                ({ } l, { } h) => input.clamp(l, h),
            };
        });
    }

    private static Kernel Gelu(Node node, LoweringContext _)
    {
        var approximate = node.GetString("approximate", "none") switch
        {
            "none" => TorchSharp.Modules.GELU.Approximate.none,
            "tanh" => TorchSharp.Modules.GELU.Approximate.tanh,
            var other => throw Unsupported(node, $"approximate '{other}'"),
        };
        return One(x => F.gelu(x[0]!, approximate));
    }

    // ---- linear algebra -----------------------------------------------------------------------

    private static Kernel Gemm(Node node, LoweringContext _)
    {
        var alpha = node.GetFloat("alpha", 1f);
        var beta = node.GetFloat("beta", 1f);
        var transA = node.GetInt("transA", 0) != 0;
        var transB = node.GetInt("transB", 0) != 0;
        return One(x =>
        {
            Tensor a = x[0]!, b = x[1]!;
            var c = x.Length > 2 ? x[2] : null;
            if (!transA && transB && alpha == 1f && beta == 1f && (c is null || c.dim() == 1))
                return F.linear(a, b, c);
            var y = (transA ? a.t() : a).matmul(transB ? b.t() : b);
            if (alpha != 1f) y = y * alpha;
            if (c is not null) y = y + (beta == 1f ? c : c * beta);
            return y;
        });
    }

    // ---- shape manipulation -------------------------------------------------------------------

    private static Kernel Slice(Node node, LoweringContext _)
    {
        var attrStarts = node.GetInts("starts")?.ToArray();
        var attrEnds = node.GetInts("ends")?.ToArray();
        var attrAxes = node.GetInts("axes")?.ToArray();
        return One(x =>
        {
            var data = x[0]!;
            var starts = x.Length > 1 && x[1] is { } s ? TorchTensors.ToInt64s(s) : attrStarts ?? throw Unsupported(node, "a Slice without starts");
            var ends = x.Length > 2 && x[2] is { } e ? TorchTensors.ToInt64s(e) : attrEnds ?? throw Unsupported(node, "a Slice without ends");
            var axes = x.Length > 3 && x[3] is { } ax ? TorchTensors.ToInt64s(ax) : attrAxes ?? [.. Enumerable.Range(0, starts.Length).Select(i => (long)i)];
            var steps = x.Length > 4 && x[4] is { } st ? TorchTensors.ToInt64s(st) : [.. Enumerable.Repeat(1L, starts.Length)];
            var y = data;
            for (var i = 0; i < starts.Length; i++)
            {
                var axis = Axis(axes[i], data.dim());
                var dim = data.shape[axis];
                var step = steps[i];
                var start = starts[i] < 0 ? starts[i] + dim : starts[i];
                var end = ends[i] < 0 ? ends[i] + dim : ends[i];
                if (step > 0)
                {
                    start = Math.Clamp(start, 0, dim);
                    end = Math.Clamp(end, 0, dim);
                    y = y.slice(axis, start, Math.Max(start, end), step);
                }
                else
                {
                    start = Math.Clamp(start, 0, dim - 1);
                    end = Math.Clamp(end, -1, dim - 1);
                    var picks = new List<long>();
                    for (var k = start; k > end; k += step) picks.Add(k);
                    y = y.index_select(axis, torch.tensor(picks.ToArray(), ScalarType.Int64));
                }
            }
            return y;
        });
    }

    private static Kernel Split(Node node, LoweringContext _)
    {
        var axis = node.GetInt("axis", 0);
        var attrSplit = node.GetInts("split")?.ToArray();
        var numOutputs = node.GetInt("num_outputs", node.Outputs.Count);
        return x =>
        {
            var input = x[0]!;
            var a = Axis(axis, input.dim());
            var dim = input.shape[a];
            long[] sizes;
            if (x.Length > 1 && x[1] is { } s) sizes = TorchTensors.ToInt64s(s);
            else if (attrSplit is not null) sizes = attrSplit;
            else
            {
                var chunk = (dim + numOutputs - 1) / numOutputs;
                sizes = [.. Enumerable.Range(0, (int)numOutputs).Select(i => Math.Max(0, Math.Min(chunk, dim - i * chunk)))];
            }
            return input.split(sizes, a);
        };
    }

    private static Kernel Reshape(Node node, LoweringContext _)
    {
        var allowZero = node.GetInt("allowzero", 0) != 0;
        return One(x =>
        {
            var input = x[0]!;
            var shape = TorchTensors.ToInt64s(x[1]!);
            if (!allowZero)
                for (var i = 0; i < shape.Length; i++)
                    if (shape[i] == 0) shape[i] = input.shape[i];
            return input.reshape(shape);
        });
    }

    private static Kernel Transpose(Node node, LoweringContext _)
    {
        var perm = node.GetInts("perm")?.ToArray();
        return One(x =>
        {
            var input = x[0]!;
            return input.permute(perm ?? [.. Enumerable.Range(0, (int)input.dim()).Reverse().Select(i => (long)i)]);
        });
    }

    private static Kernel Flatten(Node node, LoweringContext _)
    {
        var axis = node.GetInt("axis", 1);
        return One(x =>
        {
            var input = x[0]!;
            var a = (int)Axis(axis, input.dim());
            var shape = input.shape;
            return input.reshape(shape[..a].Aggregate(1L, (p, d) => p * d), shape[a..].Aggregate(1L, (p, d) => p * d));
        });
    }

    private static Kernel Squeeze(Node node, LoweringContext _)
    {
        var attrAxes = node.GetInts("axes")?.ToArray();
        return One(x =>
        {
            var input = x[0]!;
            var axes = x.Length > 1 && x[1] is { } a ? TorchTensors.ToInt64s(a) : attrAxes;
            if (axes is null)
                axes = [.. input.shape.Select((d, i) => (d, (long)i)).Where(p => p.d == 1).Select(p => p.Item2)];
            var y = input;
            foreach (var axis in axes.Select(v => Axis(v, input.dim())).OrderDescending())
                y = y.squeeze(axis);
            return y;
        });
    }

    private static Kernel Unsqueeze(Node node, LoweringContext _)
    {
        var attrAxes = node.GetInts("axes")?.ToArray();
        return One(x =>
        {
            var input = x[0]!;
            var axes = x.Length > 1 && x[1] is { } a ? TorchTensors.ToInt64s(a) : attrAxes ?? throw Unsupported(node, "Unsqueeze without axes");
            var rank = input.dim() + axes.Length;
            var y = input;
            foreach (var axis in axes.Select(v => Axis(v, rank)).Order())
                y = y.unsqueeze(axis);
            return y;
        });
    }

    private static Kernel Gather(Node node, LoweringContext _)
    {
        var axis = node.GetInt("axis", 0);
        return One(x =>
        {
            Tensor data = x[0]!, indices = x[1]!.to_type(ScalarType.Int64);
            var a = (int)Axis(axis, data.dim());
            var dim = data.shape[a];
            var idx = torch.where(indices.lt(0), indices + dim, indices);
            // index_select keeps the gradient path to the table, which is what makes Gather an embedding.
            var picked = data.index_select(a, idx.reshape(-1));
            long[] shape = [.. data.shape[..a], .. indices.shape, .. data.shape[(a + 1)..]];
            return picked.reshape(shape);
        });
    }

    private delegate Tensor Reduction(Tensor input, long[] dims, bool keepdim);

    private static Kernel Reduce(Node node, LoweringContext context, Reduction reduce, long sinceAxesInput)
    {
        var attrAxes = node.GetInts("axes")?.ToArray();
        var keep = node.GetInt("keepdims", 1) != 0;
        var noopWhenEmpty = node.GetInt("noop_with_empty_axes", 0) != 0;
        _ = sinceAxesInput; // axes come from the attribute before that opset and from the input after; both are read
        return One(x =>
        {
            var input = x[0]!;
            var axes = x.Length > 1 && x[1] is { } a ? TorchTensors.ToInt64s(a) : attrAxes ?? [];
            if (axes.Length == 0)
            {
                if (noopWhenEmpty) return input;
                axes = [.. Enumerable.Range(0, (int)input.dim()).Select(i => (long)i)];
            }
            return reduce(input, [.. axes.Select(v => Axis(v, input.dim()))], keep);
        });
    }

    private static Kernel Dropout(Node node, LoweringContext _)
    {
        RejectUsedOutputs(node, 1, "the dropout mask output");
        return One(x => x[0]!);
    }

    private static Kernel Cast(Node node, LoweringContext _)
    {
        var to = TorchTensors.ToScalarType((ElementType)(int)Required(node, "to"));
        return One(x => x[0]!.to_type(to));
    }

    private static Kernel ShapeOf(Node node, LoweringContext _)
    {
        var start = node.GetInt("start", 0);
        long? end = node.HasAttr("end") ? node.GetInt("end", 0) : null;
        return One(x =>
        {
            var shape = x[0]!.shape;
            var r = shape.Length;
            var s = (int)Math.Clamp(start < 0 ? start + r : start, 0, r);
            var e = (int)Math.Clamp(end is { } v ? (v < 0 ? v + r : v) : r, 0, r);
            return torch.tensor(shape[s..Math.Max(s, e)], ScalarType.Int64);
        });
    }

    private static Kernel ConstantOfShape(Node node, LoweringContext _)
    {
        var value = node.Attr("value")?.AsTensor() ?? TensorData.Scalar(0f);
        var type = TorchTensors.ToScalarType(value.ElementType);
        var fill = value.ToDoubles()[0];
        return One(x => torch.full(TorchTensors.ToInt64s(x[0]!), fill, type));
    }

    private static Kernel Constant(Node node, LoweringContext _)
    {
        var attr = node.Attributes.Values.FirstOrDefault() ?? throw Unsupported(node, "a Constant without a value");
        var data = attr.Name switch
        {
            "value" => attr.AsTensor(),
            "value_float" => TensorData.Scalar(attr.AsFloat()),
            "value_floats" => TensorData.FromFloats([attr.AsFloats().Length], [.. attr.AsFloats()]),
            "value_int" => TensorData.FromInt64s([], [attr.AsInt()]),
            "value_ints" => TensorData.FromInt64s([attr.AsInts().Length], [.. attr.AsInts()]),
            _ => throw Unsupported(node, $"Constant attribute '{attr.Name}'"),
        };
        // Computed per call: a tensor kept across calls would be disposed by the first caller's dispose scope.
        return One(_ => TorchTensors.FromData(data));
    }
}
