using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Canter.Server.Api;

/// <summary>
/// The fields of a submission, whatever its body: a JSON object, a multipart form (with files) or a URL-encoded form.
/// Names are normalised so both read alike: <c>refs[]</c> and <c>refs[0]</c> are <c>refs</c>, and a nested object or
/// <c>input_reference[image_url]</c> is <c>input_reference.image_url</c>. Values keep their text; parsing checks them.
/// </summary>
public sealed class RequestFields
{
    private readonly Dictionary<string, List<string>> _texts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<IFormFile>> _files = new(StringComparer.Ordinal);

    public IEnumerable<string> Names => _texts.Keys.Concat(_files.Keys).Distinct();

    public static async Task<RequestFields> ReadAsync(HttpRequest request, CancellationToken cancel)
    {
        var fields = new RequestFields();
        if (request.HasJsonContentType())
        {
            JsonDocument doc;
            try { doc = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancel); }
            catch (JsonException e) { throw ApiException.BadRequest($"the body is not valid JSON: {e.Message}", code: "invalid_json"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw ApiException.BadRequest("the body must be a JSON object", code: "invalid_json");
                // a lone surrogate escape ("\ud800") is valid JSON but not a string; reading it throws InvalidOperationException
                try { foreach (var p in doc.RootElement.EnumerateObject()) fields.AddJson(p.Name, p.Value); }
                catch (InvalidOperationException e) { throw ApiException.BadRequest($"the body holds a string that is not valid text: {e.Message}", code: "invalid_json"); }
            }
        }
        else if (request.HasFormContentType)
        {
            IFormCollection form;
            try { form = await request.ReadFormAsync(cancel); }
            catch (InvalidDataException e)
            {
                // the form reader's own limits (body length, value length, part count) and malformed multipart bodies
                throw e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase)
                    ? new ApiException(413, "too_large", $"the form is over the server's limits ({e.Message})")
                    : ApiException.BadRequest($"the form cannot be read: {e.Message}", code: "invalid_form");
            }
            catch (IOException e) when (e.Message.Contains("end of Stream", StringComparison.OrdinalIgnoreCase))
            {
                // a multipart body that ends before its closing boundary
                throw ApiException.BadRequest($"the form cannot be read: {e.Message}", code: "invalid_form");
            }
            foreach (var (name, values) in form)
                foreach (var v in values) if (v is not null) fields.Add(Normalise(name), v);
            foreach (var file in form.Files)
            {
                var name = Normalise(file.Name);
                if (!fields._files.TryGetValue(name, out var list)) fields._files[name] = list = [];
                list.Add(file);
            }
        }
        else
        {
            throw new ApiException(415, "unsupported_media_type",
                $"send the request as application/json or multipart/form-data (got '{(string.IsNullOrEmpty(request.ContentType) ? "no content type" : request.ContentType)}')");
        }
        return fields;
    }

    /// <summary>Fields built in code (a remix, a test).</summary>
    public static RequestFields Of(params (string Name, string Value)[] values)
    {
        var fields = new RequestFields();
        foreach (var (n, v) in values) fields.Add(n, v);
        return fields;
    }

    public bool Has(string name) => _texts.ContainsKey(name) || _files.ContainsKey(name);

    /// <summary>The one text value of a field, null when absent; a field given twice is an error.</summary>
    public string? Text(string name)
    {
        if (!_texts.TryGetValue(name, out var values) || values.Count == 0) return null;
        if (values.Count > 1) throw ApiException.BadRequest($"{name} is given {values.Count} times; give it once", name);
        if (_files.ContainsKey(name)) throw ApiException.BadRequest($"{name} is given both as a file and as text; give one", name);
        return values[0];
    }

    public IReadOnlyList<string> Texts(string name) => _texts.TryGetValue(name, out var v) ? v : [];

    public IReadOnlyList<IFormFile> Files(string name) => _files.TryGetValue(name, out var v) ? v : [];

    public float? Float(string name, float min, float max)
    {
        var text = Text(name);
        if (text is null) return null;
        if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !float.IsFinite(value))
            throw ApiException.BadRequest($"{name}: '{Clip(text)}' is not a number", name);
        if (value < min || value > max) throw ApiException.BadRequest($"{name}: {text} must be in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]", name);
        return value;
    }

    public int? Int(string name, int min, int max)
    {
        var text = Text(name);
        if (text is null) return null;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            throw ApiException.BadRequest($"{name}: '{Clip(text)}' is not a whole number", name);
        if (value < min || value > max) throw ApiException.BadRequest($"{name}: {value} must be in [{min}, {max}]", name);
        return value;
    }

    public ulong? ULong(string name)
    {
        var text = Text(name);
        if (text is null) return null;
        return ulong.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value : throw ApiException.BadRequest($"{name}: '{Clip(text)}' is not a whole number in [0, 2^64)", name);
    }

    public bool? Bool(string name)
    {
        var text = Text(name);
        return text switch
        {
            null => null,
            "true" or "True" or "1" or "on" => true,
            "false" or "False" or "0" or "off" => false,
            _ => throw ApiException.BadRequest($"{name}: '{Clip(text)}' is not true or false", name),
        };
    }

    private void Add(string name, string value)
    {
        if (!_texts.TryGetValue(name, out var list)) _texts[name] = list = [];
        list.Add(value);
    }

    private void AddJson(string name, JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null or JsonValueKind.Undefined: break;
            case JsonValueKind.String: Add(name, value.GetString()!); break;
            case JsonValueKind.Number: Add(name, value.GetRawText()); break;
            case JsonValueKind.True: Add(name, "true"); break;
            case JsonValueKind.False: Add(name, "false"); break;
            case JsonValueKind.Object:
                foreach (var p in value.EnumerateObject()) AddJson($"{name}.{p.Name}", p.Value);
                break;
            case JsonValueKind.Array:
                foreach (var item in value.EnumerateArray())
                {
                    if (item.ValueKind is JsonValueKind.Array or JsonValueKind.Object)
                        throw ApiException.BadRequest($"{name}: give a list of strings", name);
                    AddJson(name, item);
                }
                if (value.GetArrayLength() == 0 && !_texts.ContainsKey(name)) _texts[name] = [];
                break;
        }
    }

    private static string Normalise(string name)
    {
        // refs[] / refs[0] -> refs; input_reference[image_url] -> input_reference.image_url
        int open = name.IndexOf('[');
        if (open < 0 || !name.EndsWith(']')) return name;
        var inner = name[(open + 1)..^1];
        return inner.Length == 0 || inner.All(char.IsAsciiDigit) ? name[..open] : $"{name[..open]}.{inner}";
    }

    private static string Clip(string text) => text.Length <= 40 ? text : text[..40] + "...";
}
