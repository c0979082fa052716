"""The Bedrock adapter: SigV4, Converse translation, event-stream frames, as pure functions.

SigV4 is checked against AWS's published vectors (aws-sig-v4-test-suite, the IAM
signing examples, and botocore's non-S3 double-encoding cases), not against itself.
Event-stream parsing is checked against botocore's encoded test messages.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from tests.support.bedrock_cases import (
    ADAPTER,
    BEDROCK_HI,
    CREDS,
    HI,
    MODEL,
    WEATHER_SPEC,
    WEATHER_TOOL,
    dep,
    encode,
    raw_body,
)
from tianji_common.errors import (
    InvalidRequest,
    UpstreamError,
)

from tianji_gateway.providers import registry
from tianji_gateway.providers._bedrock_sigv4 import (
    AwsCredentials,
    canonical_request,
    sign_headers,
    signature,
    signing_key,
    string_to_sign,
)
from tianji_gateway.providers.base import Op
from tianji_gateway.providers.bedrock import BedrockAdapter

# --- registration, URL, headers ------------------------------------------------------


def test_registered_with_class_attributes() -> None:
    assert registry.ADAPTERS["bedrock"] is BedrockAdapter
    assert BedrockAdapter.env_key == "AWS_BEARER_TOKEN_BEDROCK"
    assert BedrockAdapter.passthrough is False
    assert BedrockAdapter.caps.stream_usage is False
    assert BedrockAdapter.caps.ops == frozenset(
        {Op.CHAT, Op.EMBEDDING, Op.RERANK, Op.IMAGE_GENERATION}
    )


@pytest.mark.parametrize(
    ("kw", "stream", "expected"),
    [
        ({}, False, f"https://bedrock-runtime.us-east-1.amazonaws.com/model/{MODEL}/converse"),
        (
            {},
            True,
            f"https://bedrock-runtime.us-east-1.amazonaws.com/model/{MODEL}/converse-stream",
        ),
        # LiteLLM's rule: a custom api_base replaces the runtime host, path appended.
        (
            {"api_base": "https://proxy.example.com/br/"},
            False,
            f"https://proxy.example.com/br/model/{MODEL}/converse",
        ),
        (
            {
                "settings": {
                    **CREDS,
                    "aws_bedrock_runtime_endpoint": "https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com",
                }
            },
            False,
            f"https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com/model/{MODEL}/converse",
        ),
        # Cross-region inference profiles pass through as model ids.
        (
            {
                "model": "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
                "settings": {**CREDS, "aws_region_name": "eu-west-1"},
            },
            False,
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/eu.anthropic.claude-3-7-sonnet-20250219-v1:0/converse",
        ),
        # bedrock/converse/<id>: the route prefix is not part of the id.
        (
            {"model": f"converse/{MODEL}"},
            False,
            f"https://bedrock-runtime.us-east-1.amazonaws.com/model/{MODEL}/converse",
        ),
    ],
)
def test_chat_url(kw: dict[str, Any], stream: bool, expected: str) -> None:
    assert ADAPTER.url(dep(**kw), Op.CHAT, stream) == expected


def test_arn_model_id_escapes_slash_and_lends_its_region() -> None:
    arn = "arn:aws:bedrock:ap-northeast-1:123456789012:application-inference-profile/x1y2"
    d = dep(model="claude", settings={**CREDS, "aws_region_name": "", "model_id": arn})
    assert ADAPTER.url(d, Op.CHAT, False) == (
        "https://bedrock-runtime.ap-northeast-1.amazonaws.com/model/"
        "arn:aws:bedrock:ap-northeast-1:123456789012:application-inference-profile%2Fx1y2/converse"
    )


@pytest.mark.parametrize(
    ("settings", "region"),
    [
        ({"aws_region_name": "eu-central-1", "aws_region_name_env": "us-east-2"}, "eu-central-1"),
        ({"aws_region_name_env": "us-east-2"}, "us-east-2"),
        ({}, "us-west-2"),  # LiteLLM's last resort
    ],
)
def test_region_resolution(settings: dict[str, str], region: str) -> None:
    url = ADAPTER.url(dep(settings=settings), Op.CHAT, False)
    assert url.startswith(f"https://bedrock-runtime.{region}.amazonaws.com/")


def test_embedding_and_rerank_urls() -> None:
    titan = dep(model="amazon.titan-embed-text-v2:0")
    assert ADAPTER.url(titan, Op.EMBEDDING, False) == (
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.titan-embed-text-v2:0/invoke"
    )
    rerank = dep(model="amazon.rerank-v1:0", settings={**CREDS, "aws_region_name": "us-west-2"})
    assert ADAPTER.url(rerank, Op.RERANK, False) == (
        "https://bedrock-agent-runtime.us-west-2.amazonaws.com/rerank"
    )


def test_headers_bearer_api_key_and_extra_headers() -> None:
    d = dep(api_key="bedrock-key", extra_headers=(("x-amzn-bedrock-trace", "ENABLED"),))
    assert ADAPTER.headers(d) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer bedrock-key"),
        ("x-amzn-bedrock-trace", "ENABLED"),
    ]
    assert ADAPTER.headers(dep()) == [("content-type", "application/json")]


# --- SigV4 against AWS's published vectors ---------------------------------------------

SUITE = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = 1440938160.0  # 2015-08-30T12:36:00Z
STS_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRX"
    "mxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburE"
    "Dy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL"
    "64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
)
SCOPE = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"


@pytest.mark.parametrize(
    ("method", "url", "headers", "body", "creds", "expected"),
    [
        # aws-sig-v4-test-suite get-vanilla
        (
            "GET",
            "https://example.amazonaws.com/",
            [],
            b"",
            SUITE,
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        # post-vanilla
        (
            "POST",
            "https://example.amazonaws.com/",
            [],
            b"",
            SUITE,
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host;x-amz-date, "
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ),
        # post-x-www-form-urlencoded: the body's SHA-256 is signed
        (
            "POST",
            "https://example.amazonaws.com/",
            [("Content-Type", "application/x-www-form-urlencoded")],
            b"Param1=value1",
            SUITE,
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=content-type;host;x-amz-date, "
            "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        ),
        # get-vanilla-query-order-key-case: query parameters sorted
        (
            "GET",
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            [],
            b"",
            SUITE,
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host;x-amz-date, "
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        # get-header-value-trim: values trimmed, inner whitespace collapsed
        (
            "GET",
            "https://example.amazonaws.com/",
            [("My-Header1", " value1"), ("My-Header2", '"a   b   c"')],
            b"",
            SUITE,
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, "
            "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
            "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        ),
        # post-sts-token/post-sts-header-before: the session token is a signed header
        (
            "POST",
            "https://example.amazonaws.com/",
            [],
            b"",
            AwsCredentials(SUITE.access_key_id, SUITE.secret_access_key, STS_TOKEN),
            f"AWS4-HMAC-SHA256 Credential={SCOPE}, "
            "SignedHeaders=host;x-amz-date;x-amz-security-token, "
            "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        ),
    ],
)
def test_sigv4_test_suite(
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    creds: AwsCredentials,
    expected: str,
) -> None:
    signed = sign_headers(
        method=method,
        url=url,
        headers=headers,
        body=body,
        creds=creds,
        region="us-east-1",
        service="service",
        now=SUITE_TIME,
    )
    assert dict(signed)["authorization"] == expected
    assert dict(signed)["x-amz-date"] == "20150830T123600Z"
    assert dict(signed)["host"] == "example.amazonaws.com"


def test_sigv4_iam_documentation_example() -> None:
    """The worked example of AWS's "Create a signed AWS API request" (IAM ListUsers)."""
    signed = sign_headers(
        method="GET",
        url="https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
        body=b"",
        creds=SUITE,
        region="us-east-1",
        service="iam",
        now=SUITE_TIME,
    )
    assert dict(signed)["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )


def test_signing_key_documentation_example() -> None:
    key = signing_key(SUITE.secret_access_key, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


@pytest.mark.parametrize(
    ("path", "canonical_path", "sig"),
    [
        # botocore's aws4_testsuite get-space / get-utf8: a non-S3 service encodes the
        # already-encoded wire path a second time.
        (
            "/%20/foo",
            "/%2520/foo",
            "2be9e587d1ee1f0fd02128724b86b4358ba3630d39f493b6e06610a19a50779e",
        ),
        (
            "/%E1%88%B4",
            "/%25E1%2588%25B4",
            "57b1eb3df3b16a8479c0097b66c0b261cfd65b829419a3f2c3d05319722490b8",
        ),
    ],
)
def test_sigv4_double_encodes_the_path(path: str, canonical_path: str, sig: str) -> None:
    headers = [("Date", "Mon, 09 Sep 2011 23:36:00 GMT"), ("Host", "host.foo.com")]
    creq, _ = canonical_request(
        "GET", "https://host.foo.com" + path, headers, hashlib.sha256(b"").hexdigest()
    )
    assert creq == (
        f"GET\n{canonical_path}\n\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\n"
        "date;host\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    sts = string_to_sign("20110909T233600Z", "20110909/us-east-1/host/aws4_request", creq)
    key = signing_key(SUITE.secret_access_key, "20110909", "us-east-1", "host")
    assert signature(key, sts) == sig


def test_sign_hook_for_a_converse_request() -> None:
    d = dep(model="arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc")
    url = ADAPTER.url(d, Op.CHAT, False)
    body = b'{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}'
    signed = ADAPTER.sign(d, url, ADAPTER.headers(d), body, SUITE_TIME)
    headers = dict(signed)
    assert headers["host"] == "bedrock-runtime.us-east-1.amazonaws.com"
    assert headers["x-amz-date"] == "20150830T123600Z"
    assert "x-amz-security-token" not in headers
    creq, names = canonical_request("POST", url, signed[:-1], hashlib.sha256(body).hexdigest())
    # The canonical URI is the wire path encoded once more: `%2F` -> `%252F`, `:` -> `%3A`.
    assert creq.split("\n")[1] == (
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
        "application-inference-profile%252Fabc/converse"
    )
    assert names == "content-type;host;x-amz-date"
    scope = "20150830/us-east-1/bedrock/aws4_request"
    key = signing_key(CREDS["aws_secret_access_key"], "20150830", "us-east-1", "bedrock")
    expected = signature(key, string_to_sign("20150830T123600Z", scope, creq))
    assert headers["authorization"] == (
        f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{scope}, "
        f"SignedHeaders=content-type;host;x-amz-date, Signature={expected}"
    )


def test_sign_hook_session_token_and_bearer_and_missing_credentials() -> None:
    d = dep(settings={**CREDS, "aws_session_token": "session-token-1"})
    url = ADAPTER.url(d, Op.CHAT, False)
    headers = dict(ADAPTER.sign(d, url, ADAPTER.headers(d), b"{}", SUITE_TIME))
    assert headers["x-amz-security-token"] == "session-token-1"
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"
        in (headers["authorization"])
    )
    bearer = dep(api_key="bedrock-key")
    plain = ADAPTER.headers(bearer)
    assert ADAPTER.sign(bearer, url, plain, b"{}", SUITE_TIME) == plain
    with pytest.raises(UpstreamError, match="no credentials"):
        ADAPTER.sign(dep(settings={}), url, [], b"{}", SUITE_TIME)


def test_sign_hook_port_in_host_for_custom_endpoint() -> None:
    d = dep(api_base="http://127.0.0.1:8123")
    url = ADAPTER.url(d, Op.CHAT, False)
    assert dict(ADAPTER.sign(d, url, [], b"{}", SUITE_TIME))["host"] == "127.0.0.1:8123"


# --- request translation ---------------------------------------------------------------


def test_plain_chat_request() -> None:
    body = {"messages": [HI], "max_tokens": 256, "temperature": 0.5, "top_p": 0.9, "stop": ["END"]}
    assert encode(body) == {
        "messages": [BEDROCK_HI],
        "inferenceConfig": {
            "maxTokens": 256,
            "temperature": 0.5,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
    }


def test_system_and_developer_become_system_blocks_with_cache_points() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {
                "role": "developer",
                "content": [
                    {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}
                ],
            },
            HI,
        ]
    }
    out = encode(body)
    assert out["system"] == [
        {"text": "You are terse."},
        {"text": "Long context"},
        {"cachePoint": {"type": "default"}},
    ]
    assert out["messages"] == [BEDROCK_HI]


def test_multipart_content_images_and_documents() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="},
                    },
                    {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="},
                    {
                        "type": "file",
                        "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ="},
                    },
                    {"type": "image_url", "image_url": {"url": "s3://bucket/cat.jpg"}},
                ],
            }
        ]
    }
    name = "document-" + hashlib.sha256(b"JVBERi0xLjQ=").hexdigest()[:12]
    assert encode(body)["messages"] == [
        {
            "role": "user",
            "content": [
                {"text": "What is in these?"},
                {"image": {"format": "jpeg", "source": {"bytes": "/9j/4AAQSkZJRg=="}}},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                {"document": {"format": "pdf", "name": name, "source": {"bytes": "JVBERi0xLjQ="}}},
                {
                    "image": {
                        "format": "jpeg",
                        "source": {"s3Location": {"uri": "s3://bucket/cat.jpg"}},
                    }
                },
            ],
        }
    ]


def test_remote_image_urls_are_refused_not_fetched() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    with pytest.raises(InvalidRequest, match="does not download"):
        encode({"messages": [{"role": "user", "content": [part]}]})


def test_tools_and_tool_choice() -> None:
    out = encode({"messages": [HI], "tools": [WEATHER_TOOL], "tool_choice": "required"})
    assert out["toolConfig"] == {"tools": [WEATHER_SPEC], "toolChoice": {"any": {}}}
    named = {"type": "function", "function": {"name": "get_weather"}}
    out = encode({"messages": [HI], "tools": [WEATHER_TOOL], "tool_choice": named})
    assert out["toolConfig"]["toolChoice"] == {"tool": {"name": "get_weather"}}
    out = encode({"messages": [HI], "tools": [WEATHER_TOOL], "tool_choice": "auto"})
    assert out["toolConfig"]["toolChoice"] == {"auto": {}}
    bare = {"type": "function", "function": {"name": "ping"}}
    assert encode({"messages": [HI], "tools": [bare]})["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "ping",
                    "description": "ping",
                    "inputSchema": {"json": {"type": "object", "properties": {}}},
                }
            }
        ]
    }


def test_tool_choice_none_is_rejected_unless_dropping() -> None:
    body = {"messages": [HI], "tools": [WEATHER_TOOL], "tool_choice": "none"}
    with pytest.raises(InvalidRequest, match="tool_choice"):
        encode(body)
    assert "toolChoice" not in encode(body, drop_params=True)["toolConfig"]


def test_tool_call_round_trip_merges_tool_results_into_one_user_turn() -> None:
    body = {
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": "Checking both.",
                "tool_calls": [
                    {
                        "id": "tooluse_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "tooluse_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C"},
            {
                "role": "tool",
                "tool_call_id": "tooluse_2",
                "content": [{"type": "text", "text": "21"}, {"type": "text", "text": "C"}],
            },
            {"role": "user", "content": "Thanks"},
        ],
    }
    assert encode(body)["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Checking both."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                },
                {
                    "toolUse": {
                        "toolUseId": "tooluse_2",
                        "name": "get_weather",
                        "input": {"city": "Rome"},
                    }
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18C"}]}},
                {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "21C"}]}},
                {"text": "Thanks"},
            ],
        },
    ]


def test_tool_history_without_tools_is_a_400_like_litellm() -> None:
    body = {
        "messages": [
            HI,
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "t", "content": "ok"},
        ]
    }
    with pytest.raises(InvalidRequest, match="tools="):
        encode(body)


def test_thinking_blocks_go_back_as_reasoning_content() -> None:
    body = {
        "messages": [
            HI,
            {
                "role": "assistant",
                "content": "Answer",
                "thinking_blocks": [
                    {"type": "thinking", "thinking": "Let me think", "signature": "sig=="},
                    {"type": "redacted_thinking", "data": "EmwKAhgB"},
                ],
            },
            {"role": "user", "content": "More"},
        ]
    }
    assert encode(body)["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Let me think", "signature": "sig=="}}},
        {"reasoningContent": {"redactedContent": "EmwKAhgB"}},
        {"text": "Answer"},
    ]


def test_response_format_rides_on_a_forced_tool() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
    out = encode({"messages": [HI], "response_format": fmt})
    assert out["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "json_tool_call",
                    "description": "json_tool_call",
                    "inputSchema": {"json": schema},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "json_tool_call"}},
    }
    assert "toolConfig" not in encode({"messages": [HI], "response_format": {"type": "text"}})


def test_reasoning_effort_for_anthropic_models_becomes_thinking() -> None:
    out = encode({"messages": [HI], "reasoning_effort": "medium"})
    assert out["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    }
    assert out["inferenceConfig"] == {"maxTokens": 2048 + 4096}
    thinking = {"type": "enabled", "budget_tokens": 3000}
    out = encode({"messages": [HI], "thinking": thinking, "max_tokens": 8000})
    assert out["additionalModelRequestFields"] == {"thinking": thinking}
    assert out["inferenceConfig"] == {"maxTokens": 8000}


def test_reasoning_effort_for_nova_2_becomes_reasoning_config() -> None:
    out = encode({"messages": [HI], "reasoning_effort": "high"}, model="us.amazon.nova-2-lite-v1:0")
    assert out["additionalModelRequestFields"] == {
        "reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}
    }


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (MODEL, {"top_k": 40}),
        ("us.amazon.nova-pro-v1:0", {"inferenceConfig": {"topK": 40}}),
        ("meta.llama3-1-70b-instruct-v1:0", None),  # LiteLLM drops it for other families
    ],
)
def test_top_k_placement_by_family(model: str, expected: dict[str, Any] | None) -> None:
    out = encode({"messages": [HI], "top_k": 40}, model=model)
    assert out.get("additionalModelRequestFields") == expected


def test_base_model_from_model_info_decides_the_family() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc"
    out = encode(
        {"messages": [HI], "top_k": 5},
        model=arn,
        model_info={"base_model": "bedrock/anthropic.claude-3-haiku-20240307-v1:0"},
    )
    assert out["additionalModelRequestFields"] == {"top_k": 5}


def test_unknown_params_go_to_additional_fields_and_converse_fields_pass_through() -> None:
    guardrail = {"guardrailIdentifier": "gr-1", "guardrailVersion": "1", "trace": "enabled"}
    out = encode(
        {
            "messages": [HI],
            "anthropic_beta": ["context-1m-2025-08-07"],
            "guardrailConfig": guardrail,
        }
    )
    assert out["additionalModelRequestFields"] == {"anthropic_beta": ["context-1m-2025-08-07"]}
    assert out["guardrailConfig"] == guardrail


def test_unsupported_param_rejected_or_dropped() -> None:
    body = raw_body({"model": "claude", "messages": [HI], "frequency_penalty": 0.5})
    with pytest.raises(InvalidRequest) as e:
        ADAPTER.map_params(dict(body), dep())
    assert e.value.param == "frequency_penalty"
    dropped = ADAPTER.map_params(dict(body), dep(drop_params=True))
    assert "frequency_penalty" not in dropped
    assert "frequency_penalty" not in json.dumps(
        encode({"messages": [HI], "frequency_penalty": 1}, drop_params=True)
    )


def test_n_greater_than_one_and_empty_stop() -> None:
    with pytest.raises(InvalidRequest, match="'n'"):
        encode({"messages": [HI], "n": 2})
    assert "inferenceConfig" not in encode({"messages": [HI], "n": 2, "stop": ""}, drop_params=True)
