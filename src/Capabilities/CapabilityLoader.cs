using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using ArchNet.Capabilities.Parsing;
using ArchNet.IR;

namespace ArchNet.Capabilities;

/// <summary>
/// Reads a capability file (JSON with comments and trailing commas; schema in targets/schema.json). Every mistake is
/// an <see cref="ArchNetException"/> worded <c>file:line:col: expected ..., found ...</c>: bad JSON, an unknown key,
/// an unknown op name, a range with min &gt; max, a bit width the file's numerics do not allow, a wrong type.
/// </summary>
public static class CapabilityLoader
{
    public static Capability LoadFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArchNetException($"cannot read capability file {path}: {e.Message}", inner: e);
        }
        return Load(bytes, path);
    }

    public static Capability LoadText(string json, string file = "<text>") => Load(System.Text.Encoding.UTF8.GetBytes(json), file);

    public static Capability Load(ReadOnlySpan<byte> utf8, string file)
    {
        // Skip a UTF-8 byte order mark: editors on some systems write one.
        if (utf8.Length >= 3 && utf8[0] == 0xEF && utf8[1] == 0xBB && utf8[2] == 0xBF) utf8 = utf8[3..];
        var root = PositionedJson.Parse(utf8, file);
        return new Binder(file).Capability(root);
    }

    private sealed class Binder(string file)
    {
        private static readonly string[] TopKeys = ["$schema", "name", "vendor", "version", "source", "description", "numerics", "limits", "constraints", "cost", "ops"];
        private static readonly string[] NumericsKeys = ["floatTypes", "weights", "activations", "accumulatorBits", "rounding", "requantization"];
        private static readonly string[] SpecKeys = ["bits", "signedness", "granularity", "symmetry", "powerOfTwoScales"];
        private static readonly string[] OpKeys = ["description", "macsPerCycle", "constraints"];
        private static readonly string[] CommonConstraintKeys = ["kind", "id", "message", "except"];
        private static readonly Dictionary<string, string[]> KindKeys = new()
        {
            ["types"] = ["tensor", "allowed"],
            ["oneOf"] = ["attribute", "values"],
            ["range"] = ["attribute", "min", "max"],
            ["dim"] = ["dim", "min", "max"],
            ["rank"] = ["tensor", "min", "max"],
            ["relation"] = ["expr"],
            ["constant"] = ["input"],
        };

        public Capability Capability(PositionedJson root)
        {
            Expect(root, JsonKind.Object, "a JSON object holding a capability");
            CheckKeys(root, TopKeys);
            var name = RequiredString(root, "name");
            if (!Regex.IsMatch(name.Value, "^[a-z0-9][a-z0-9._-]*$"))
                throw Error(name.Position, "a name of lowercase letters, digits, '.', '_' or '-'", $"\"{name.Value}\"");
            var numerics = Numerics(Required(root, "numerics"));
            var chip = new List<Constraint>();
            if (root["limits"] is { } limits)
            {
                CheckKeys(limits, ["maxTensorBytes"]);
                if (limits["maxTensorBytes"] is { } mb)
                    chip.Add(new TensorSizeConstraint(Long(mb, 1)) { Id = "chip.maxTensorBytes" });
            }
            if (root["constraints"] is { } cs)
                chip.AddRange(Constraints(cs, "chip", numerics, allowExcept: true));
            Cost? cost = null;
            if (root["cost"] is { } c)
            {
                CheckKeys(c, ["clockMHz", "macsPerCycle"]);
                cost = new Cost(Number(Required(c, "clockMHz"), 0), Number(Required(c, "macsPerCycle"), 0));
            }
            var ops = new List<OpCapability>();
            var opsJson = Required(root, "ops");
            Expect(opsJson, JsonKind.Object, "an object of op entries");
            foreach (var (key, keyPosition, value) in opsJson.Members)
                ops.Add(Op(key, keyPosition, value, numerics));
            return new Capability(name.Value, RequiredString(root, "vendor").Value, RequiredString(root, "version").Value,
                RequiredString(root, "source").Value, OptionalString(root, "description") ?? "", numerics, ops, chip, cost, file);
        }

        private OpCapability Op(string key, SourcePosition keyPosition, PositionedJson value, Numerics numerics)
        {
            var colon = key.LastIndexOf(':');
            var domain = colon < 0 ? "" : key[..colon];
            var opType = colon < 0 ? key : key[(colon + 1)..];
            if (domain is "ai.onnx") domain = "";
            if (opType.Length == 0 || (colon >= 0 && domain.Length == 0))
                throw Error(keyPosition, "an op name such as \"Conv\" or \"com.microsoft:Gelu\"", $"\"{key}\"");
            // Custom domains are the vendor's business; the default domain must be real ONNX.
            if (domain.Length == 0 && opType != "*" && !OnnxOpNames.IsKnown(opType))
            {
                var hint = OnnxOpNames.Closest(opType) is { } near ? $" (did you mean \"{near}\"?)" : "";
                throw Error(keyPosition, "an ONNX op name", $"\"{opType}\"{hint}");
            }
            Expect(value, JsonKind.Object, $"an object describing op {key}");
            CheckKeys(value, OpKeys);
            var constraints = value["constraints"] is { } cs ? Constraints(cs, Capabilities.Capability.OpKey(domain, opType), numerics, allowExcept: false) : [];
            return new OpCapability(opType, domain, [.. constraints])
            {
                Description = OptionalString(value, "description"),
                MacsPerCycle = value["macsPerCycle"] is { } m ? Number(m, 0) : null,
            };
        }

        private List<Constraint> Constraints(PositionedJson array, string owner, Numerics numerics, bool allowExcept)
        {
            Expect(array, JsonKind.Array, "an array of constraints");
            var result = new List<Constraint>();
            foreach (var item in array.Items)
            {
                var c = Constraint(item, owner, numerics, allowExcept);
                // Ids must be unique within their owner so reports and remedies can refer to them.
                var id = c.Id;
                for (var n = 2; result.Any(r => r.Id == id); n++) id = $"{c.Id}#{n}";
                result.Add(c with { Id = id });
            }
            return result;
        }

        private Constraint Constraint(PositionedJson obj, string owner, Numerics numerics, bool allowExcept)
        {
            Expect(obj, JsonKind.Object, "a constraint object");
            var kindJson = RequiredString(obj, "kind");
            if (!KindKeys.TryGetValue(kindJson.Value, out var keys))
                throw Error(kindJson.Position, "a constraint kind (" + string.Join(", ", KindKeys.Keys) + ")", $"\"{kindJson.Value}\"");
            CheckKeys(obj, [.. CommonConstraintKeys.Where(k => allowExcept || k != "except"), .. keys]);
            var kind = kindJson.Value;
            Constraint c = kind switch
            {
                "types" => Types(obj, numerics),
                "oneOf" => OneOf(obj),
                "range" => new AttributeRangeConstraint(Subject(Required(obj, "attribute")), Interval(obj)) { Id = "" },
                "dim" => new DimensionRangeConstraint(Dim(Required(obj, "dim")), Interval(obj)) { Id = "" },
                "rank" => new RankConstraint(Tensor(Required(obj, "tensor")), Interval(obj)) { Id = "" },
                "relation" => Relation(Required(obj, "expr")),
                _ => new ConstantInputConstraint((int)Long(Required(obj, "input"), 0)) { Id = "" },
            };
            var subject = c switch
            {
                ElementTypesConstraint t => t.Tensor.ToString(),
                OneOfConstraint o => o.Subject.ToString(),
                AttributeRangeConstraint r => r.Subject.ToString(),
                DimensionRangeConstraint d => d.Dim.ToString(),
                RankConstraint r => r.Tensor.ToString(),
                RelationConstraint r => r.Expression.Replace(" ", ""),
                ConstantInputConstraint k => $"input[{k.Input}]",
                _ => "",
            };
            return c with
            {
                Id = OptionalString(obj, "id") ?? $"{owner}.{kind}.{subject}",
                CustomMessage = OptionalString(obj, "message"),
                ExceptOps = obj["except"] is { } ex ? [.. Strings(ex)] : [],
            };
        }

        private ElementTypesConstraint Types(PositionedJson obj, Numerics numerics)
        {
            var tensor = Tensor(Required(obj, "tensor"));
            var allowed = Required(obj, "allowed");
            Expect(allowed, JsonKind.Array, "an array of element type names");
            var types = new List<ElementType>();
            foreach (var item in allowed.Items)
            {
                Expect(item, JsonKind.String, "an element type name (int8, uint8, float32, ...)");
                if (!ElementTypes.TryParse(item.String!, out var t) || t == ElementType.Undefined)
                    throw Error(item.Position, "an element type name (int8, uint8, int16, float32, ...)", $"\"{item.String}\"");
                // Narrow integers are quantized data: their width must be one the numerics produce. 32/64-bit integers
                // are accumulators, biases and indices, which the numerics block does not govern.
                if (t.IsInteger() && t.BitWidth() < 32 && !numerics.Weights.Bits.Allows(t.BitWidth()) && !numerics.Activations.Bits.Allows(t.BitWidth()))
                    throw Error(item.Position, $"a bit width the numerics allow (weights {numerics.Weights.Bits}; activations {numerics.Activations.Bits})", $"\"{item.String}\" ({t.BitWidth()} bits)");
                types.Add(t);
            }
            return new ElementTypesConstraint(tensor, [.. types]) { Id = "" };
        }

        private OneOfConstraint OneOf(PositionedJson obj)
        {
            var subject = Subject(Required(obj, "attribute"));
            var values = Required(obj, "values");
            Expect(values, JsonKind.Array, "an array of allowed values");
            var allowed = new List<AllowedValue>();
            foreach (var v in values.Items)
            {
                allowed.Add(v.Kind switch
                {
                    JsonKind.Number => new AllowedValue(Number(v, null), null, null),
                    JsonKind.String => new AllowedValue(null, v.String, null),
                    JsonKind.Array => new AllowedValue(null, null, [.. v.Items.Select(x => Number(x, null))]),
                    _ => throw Error(v.Position, "a number, a string or an array of numbers", v.Describe()),
                });
            }
            return new OneOfConstraint(subject, [.. allowed]) { Id = "" };
        }

        private static readonly Regex RelationPattern = new(
            @"^\s*(?<l>\S+)\s*(?<op><=|>=|==|!=|<|>)\s*(?<r>[^\s+*]+|product\([^)]*\))\s*(?:(?<a>[-+*])\s*(?<n>\d+(?:\.\d+)?))?\s*$",
            RegexOptions.CultureInvariant);

        private RelationConstraint Relation(PositionedJson expr)
        {
            Expect(expr, JsonKind.String, "a relation such as \"pads <= kernel_shape - 1\"");
            var m = RelationPattern.Match(expr.String!);
            var left = m.Success ? Quantity.TryParse(m.Groups["l"].Value) : null;
            var right = m.Success ? Quantity.TryParse(m.Groups["r"].Value) : null;
            if (left is null || right is null)
                throw Error(expr.Position, "a relation QUANTITY (<|<=|==|!=|>=|>) QUANTITY [+|-|* NUMBER], e.g. \"pads <= kernel_shape - 1\"", $"\"{expr.String}\"");
            var op = m.Groups["op"].Value switch
            {
                "<" => RelationOperator.Less,
                "<=" => RelationOperator.LessOrEqual,
                "==" => RelationOperator.Equal,
                "!=" => RelationOperator.NotEqual,
                ">=" => RelationOperator.GreaterOrEqual,
                _ => RelationOperator.Greater,
            };
            return new RelationConstraint(left, op, right, m.Groups["a"].Success ? m.Groups["a"].Value[0] : null,
                m.Groups["n"].Success ? double.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture) : 0) { Id = "" };
        }

        private Interval Interval(PositionedJson obj)
        {
            var min = obj["min"] is { } a ? Number(a, null) : (double?)null;
            var max = obj["max"] is { } b ? Number(b, null) : (double?)null;
            if (min is null && max is null) throw Error(obj.Position, "\"min\" or \"max\" (or both)", "neither");
            if (min > max) throw Error(obj["min"]!.Position, "min <= max", $"min {QuantityValue.Format(min!.Value)} > max {QuantityValue.Format(max!.Value)}");
            return new Interval(min, max);
        }

        private Quantity Subject(PositionedJson json)
        {
            Expect(json, JsonKind.String, "an attribute or quantity name");
            return Quantity.TryParse(json.String!) ?? throw Error(json.Position,
                "an attribute (strides, kernel_shape[0]), a dimension (input[0].dim[1]), input[N].rank, input[N].value or product(...)", $"\"{json.String}\"");
        }

        private DimQuantity Dim(PositionedJson json)
        {
            Expect(json, JsonKind.String, "a dimension such as \"input[0].dim[1]\"");
            return Quantity.TryParseDim(json.String!) ?? throw Error(json.Position, "a dimension such as \"input[0].dim[1]\"", $"\"{json.String}\"");
        }

        private TensorRef Tensor(PositionedJson json)
        {
            Expect(json, JsonKind.String, "a tensor: input[N], output[N], inputs or outputs");
            return TensorRef.TryParse(json.String!) ?? throw Error(json.Position, "a tensor: input[N], output[N], inputs or outputs", $"\"{json.String}\"");
        }

        private Numerics Numerics(PositionedJson obj)
        {
            Expect(obj, JsonKind.Object, "a numerics object");
            CheckKeys(obj, NumericsKeys);
            var floats = obj["floatTypes"] is { } f ? FloatTypes(f) : [];
            var weights = Spec(Required(obj, "weights"));
            var activations = Spec(Required(obj, "activations"));
            var acc = (int)Long(Required(obj, "accumulatorBits"), 1);
            var rounding = Enums(Required(obj, "rounding"), new Dictionary<string, Rounding>
            {
                ["half-away-from-zero"] = Capabilities.Rounding.HalfAwayFromZero,
                ["half-to-even"] = Capabilities.Rounding.HalfToEven,
            });
            var requant = Enums(Required(obj, "requantization"), new Dictionary<string, Requantization>
            {
                ["multiplier-shift"] = Capabilities.Requantization.MultiplierShift,
                ["float"] = Capabilities.Requantization.Float,
            });
            return new Numerics(floats, weights, activations, acc, rounding, requant);
        }

        private ImmutableArray<ElementType> FloatTypes(PositionedJson json)
        {
            Expect(json, JsonKind.Array, "an array of float type names");
            var result = new List<ElementType>();
            foreach (var item in json.Items)
            {
                Expect(item, JsonKind.String, "a float type name (float32, float16, bfloat16)");
                if (!ElementTypes.TryParse(item.String!, out var t) || !t.IsFloatingPoint())
                    throw Error(item.Position, "a float type name (float32, float16, bfloat16)", $"\"{item.String}\"");
                result.Add(t);
            }
            return [.. result];
        }

        private QuantizationSpec Spec(PositionedJson obj)
        {
            Expect(obj, JsonKind.Object, "a quantization object");
            CheckKeys(obj, SpecKeys);
            var bitsJson = Required(obj, "bits");
            BitWidths bits;
            if (bitsJson.Kind == JsonKind.String && bitsJson.String == "any") bits = BitWidths.Any;
            else
            {
                Expect(bitsJson, JsonKind.Array, "an array of bit widths or \"any\"");
                bits = BitWidths.Of([.. bitsJson.Items.Select(i => (int)Long(i, 1, 32))]);
            }
            return new QuantizationSpec(
                bits,
                Enums(Required(obj, "signedness"), new Dictionary<string, Signedness> { ["signed"] = Signedness.Signed, ["unsigned"] = Signedness.Unsigned }),
                Enums(Required(obj, "granularity"), new Dictionary<string, Granularity> { ["per-tensor"] = Granularity.PerTensor, ["per-channel"] = Granularity.PerChannel }),
                Enums(Required(obj, "symmetry"), new Dictionary<string, Symmetry> { ["symmetric"] = Symmetry.Symmetric, ["asymmetric"] = Symmetry.Asymmetric }),
                obj["powerOfTwoScales"] is { } p ? Bool(p) : false);
        }

        private ImmutableArray<T> Enums<T>(PositionedJson json, Dictionary<string, T> names)
        {
            Expect(json, JsonKind.Array, "an array of " + string.Join(" / ", names.Keys.Select(k => $"\"{k}\"")));
            var result = new List<T>();
            foreach (var item in json.Items)
            {
                if (item.Kind != JsonKind.String || !names.TryGetValue(item.String!, out var v))
                    throw Error(item.Position, "one of " + string.Join(", ", names.Keys.Select(k => $"\"{k}\"")), item.Describe());
                result.Add(v);
            }
            if (result.Count == 0) throw Error(json.Position, "at least one entry", "an empty array");
            return [.. result];
        }

        private IEnumerable<string> Strings(PositionedJson json)
        {
            Expect(json, JsonKind.Array, "an array of strings");
            foreach (var item in json.Items)
            {
                Expect(item, JsonKind.String, "a string");
                yield return item.String!;
            }
        }

        // ---- small readers ----

        private void CheckKeys(PositionedJson obj, IReadOnlyCollection<string> allowed)
        {
            foreach (var (key, position, _) in obj.Members)
                if (!allowed.Contains(key))
                    throw Error(position, "one of the keys " + string.Join(", ", allowed.Select(k => $"\"{k}\"")), $"unknown key \"{key}\"");
        }

        private PositionedJson Required(PositionedJson obj, string key) =>
            obj[key] ?? throw Error(obj.Position, $"key \"{key}\"", "an object without it");

        private (string Value, SourcePosition Position) RequiredString(PositionedJson obj, string key)
        {
            var v = Required(obj, key);
            Expect(v, JsonKind.String, $"a string for \"{key}\"");
            return (v.String!, v.Position);
        }

        private string? OptionalString(PositionedJson obj, string key)
        {
            if (obj[key] is not { } v) return null;
            Expect(v, JsonKind.String, $"a string for \"{key}\"");
            return v.String;
        }

        private double Number(PositionedJson json, double? min)
        {
            Expect(json, JsonKind.Number, "a number");
            if (!json.TryGetDouble(out var d) || double.IsInfinity(d)) throw Error(json.Position, "a finite number", json.Describe());
            if (min is { } lo && d < lo) throw Error(json.Position, $"a number >= {QuantityValue.Format(lo)}", json.Describe());
            return d;
        }

        private long Long(PositionedJson json, long min, long max = long.MaxValue)
        {
            Expect(json, JsonKind.Number, "an integer");
            if (!json.TryGetLong(out var v)) throw Error(json.Position, "an integer", json.Describe());
            if (v < min || v > max)
                throw Error(json.Position, max == long.MaxValue ? $"an integer >= {min}" : $"an integer in [{min}, {max}]", json.Describe());
            return v;
        }

        private bool Bool(PositionedJson json) => json.Kind switch
        {
            JsonKind.True => true,
            JsonKind.False => false,
            _ => throw Error(json.Position, "true or false", json.Describe()),
        };

        private void Expect(PositionedJson json, JsonKind kind, string what)
        {
            if (json.Kind != kind) throw Error(json.Position, what, json.Describe());
        }

        private static ArchNetException Error(SourcePosition at, string expected, string found) =>
            new($"{at}: expected {expected}, found {found}");
    }
}
