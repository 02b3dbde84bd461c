import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import wrappers_pb2 as _wrappers_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Account(_message.Message):
    __slots__ = ("user", "wallet", "email", "devices", "custom_id", "verify_time", "disable_time")
    USER_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFY_TIME_FIELD_NUMBER: _ClassVar[int]
    DISABLE_TIME_FIELD_NUMBER: _ClassVar[int]
    user: User
    wallet: str
    email: str
    devices: _containers.RepeatedCompositeFieldContainer[AccountDevice]
    custom_id: str
    verify_time: _timestamp_pb2.Timestamp
    disable_time: _timestamp_pb2.Timestamp
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., wallet: _Optional[str] = ..., email: _Optional[str] = ..., devices: _Optional[_Iterable[_Union[AccountDevice, _Mapping]]] = ..., custom_id: _Optional[str] = ..., verify_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., disable_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AccountCustom(_message.Message):
    __slots__ = ("id", "vars")
    class VarsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    id: str
    vars: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., vars: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AccountDevice(_message.Message):
    __slots__ = ("id", "vars")
    class VarsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    id: str
    vars: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., vars: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AccountEmail(_message.Message):
    __slots__ = ("email", "password", "vars")
    class VarsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    email: str
    password: str
    vars: _containers.ScalarMap[str, str]
    def __init__(self, email: _Optional[str] = ..., password: _Optional[str] = ..., vars: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SessionRefreshRequest(_message.Message):
    __slots__ = ("token", "vars")
    class VarsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    VARS_FIELD_NUMBER: _ClassVar[int]
    token: str
    vars: _containers.ScalarMap[str, str]
    def __init__(self, token: _Optional[str] = ..., vars: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SessionLogoutRequest(_message.Message):
    __slots__ = ("token", "refresh_token")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    refresh_token: str
    def __init__(self, token: _Optional[str] = ..., refresh_token: _Optional[str] = ...) -> None: ...

class AuthenticateCustomRequest(_message.Message):
    __slots__ = ("account", "create", "username")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    account: AccountCustom
    create: _wrappers_pb2.BoolValue
    username: str
    def __init__(self, account: _Optional[_Union[AccountCustom, _Mapping]] = ..., create: _Optional[_Union[_wrappers_pb2.BoolValue, _Mapping]] = ..., username: _Optional[str] = ...) -> None: ...

class AuthenticateDeviceRequest(_message.Message):
    __slots__ = ("account", "create", "username")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    account: AccountDevice
    create: _wrappers_pb2.BoolValue
    username: str
    def __init__(self, account: _Optional[_Union[AccountDevice, _Mapping]] = ..., create: _Optional[_Union[_wrappers_pb2.BoolValue, _Mapping]] = ..., username: _Optional[str] = ...) -> None: ...

class AuthenticateEmailRequest(_message.Message):
    __slots__ = ("account", "create", "username")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    account: AccountEmail
    create: _wrappers_pb2.BoolValue
    username: str
    def __init__(self, account: _Optional[_Union[AccountEmail, _Mapping]] = ..., create: _Optional[_Union[_wrappers_pb2.BoolValue, _Mapping]] = ..., username: _Optional[str] = ...) -> None: ...

class ChannelMessage(_message.Message):
    __slots__ = ("channel_id", "message_id", "code", "sender_id", "username", "content", "create_time", "update_time", "persistent", "room_name", "group_id", "user_id_one", "user_id_two")
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PERSISTENT_FIELD_NUMBER: _ClassVar[int]
    ROOM_NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_ONE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_TWO_FIELD_NUMBER: _ClassVar[int]
    channel_id: str
    message_id: str
    code: _wrappers_pb2.Int32Value
    sender_id: str
    username: str
    content: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    persistent: _wrappers_pb2.BoolValue
    room_name: str
    group_id: str
    user_id_one: str
    user_id_two: str
    def __init__(self, channel_id: _Optional[str] = ..., message_id: _Optional[str] = ..., code: _Optional[_Union[_wrappers_pb2.Int32Value, _Mapping]] = ..., sender_id: _Optional[str] = ..., username: _Optional[str] = ..., content: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., persistent: _Optional[_Union[_wrappers_pb2.BoolValue, _Mapping]] = ..., room_name: _Optional[str] = ..., group_id: _Optional[str] = ..., user_id_one: _Optional[str] = ..., user_id_two: _Optional[str] = ...) -> None: ...

class ChannelMessageList(_message.Message):
    __slots__ = ("messages", "next_cursor", "prev_cursor", "cacheable_cursor")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    PREV_CURSOR_FIELD_NUMBER: _ClassVar[int]
    CACHEABLE_CURSOR_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ChannelMessage]
    next_cursor: str
    prev_cursor: str
    cacheable_cursor: str
    def __init__(self, messages: _Optional[_Iterable[_Union[ChannelMessage, _Mapping]]] = ..., next_cursor: _Optional[str] = ..., prev_cursor: _Optional[str] = ..., cacheable_cursor: _Optional[str] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("match_id", "authoritative", "label", "size", "tick_rate", "handler_name")
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHORITATIVE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    TICK_RATE_FIELD_NUMBER: _ClassVar[int]
    HANDLER_NAME_FIELD_NUMBER: _ClassVar[int]
    match_id: str
    authoritative: bool
    label: _wrappers_pb2.StringValue
    size: int
    tick_rate: int
    handler_name: str
    def __init__(self, match_id: _Optional[str] = ..., authoritative: _Optional[bool] = ..., label: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., size: _Optional[int] = ..., tick_rate: _Optional[int] = ..., handler_name: _Optional[str] = ...) -> None: ...

class MatchList(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    def __init__(self, matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ...) -> None: ...

class Notification(_message.Message):
    __slots__ = ("id", "subject", "content", "code", "sender_id", "create_time", "persistent")
    ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PERSISTENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    subject: str
    content: str
    code: int
    sender_id: str
    create_time: _timestamp_pb2.Timestamp
    persistent: bool
    def __init__(self, id: _Optional[str] = ..., subject: _Optional[str] = ..., content: _Optional[str] = ..., code: _Optional[int] = ..., sender_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., persistent: _Optional[bool] = ...) -> None: ...

class NotificationList(_message.Message):
    __slots__ = ("notifications", "cacheable_cursor")
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    CACHEABLE_CURSOR_FIELD_NUMBER: _ClassVar[int]
    notifications: _containers.RepeatedCompositeFieldContainer[Notification]
    cacheable_cursor: str
    def __init__(self, notifications: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ..., cacheable_cursor: _Optional[str] = ...) -> None: ...

class Rpc(_message.Message):
    __slots__ = ("id", "payload", "http_key")
    ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    HTTP_KEY_FIELD_NUMBER: _ClassVar[int]
    id: str
    payload: str
    http_key: str
    def __init__(self, id: _Optional[str] = ..., payload: _Optional[str] = ..., http_key: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("created", "token", "refresh_token")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    created: bool
    token: str
    refresh_token: str
    def __init__(self, created: _Optional[bool] = ..., token: _Optional[str] = ..., refresh_token: _Optional[str] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("id", "username", "display_name", "avatar_url", "lang_tag", "location", "timezone", "metadata", "facebook_id", "google_id", "gamecenter_id", "steam_id", "online", "edge_count", "create_time", "update_time", "facebook_instant_game_id", "apple_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    AVATAR_URL_FIELD_NUMBER: _ClassVar[int]
    LANG_TAG_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    FACEBOOK_ID_FIELD_NUMBER: _ClassVar[int]
    GOOGLE_ID_FIELD_NUMBER: _ClassVar[int]
    GAMECENTER_ID_FIELD_NUMBER: _ClassVar[int]
    STEAM_ID_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    EDGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FACEBOOK_INSTANT_GAME_ID_FIELD_NUMBER: _ClassVar[int]
    APPLE_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    username: str
    display_name: str
    avatar_url: str
    lang_tag: str
    location: str
    timezone: str
    metadata: str
    facebook_id: str
    google_id: str
    gamecenter_id: str
    steam_id: str
    online: bool
    edge_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    facebook_instant_game_id: str
    apple_id: str
    def __init__(self, id: _Optional[str] = ..., username: _Optional[str] = ..., display_name: _Optional[str] = ..., avatar_url: _Optional[str] = ..., lang_tag: _Optional[str] = ..., location: _Optional[str] = ..., timezone: _Optional[str] = ..., metadata: _Optional[str] = ..., facebook_id: _Optional[str] = ..., google_id: _Optional[str] = ..., gamecenter_id: _Optional[str] = ..., steam_id: _Optional[str] = ..., online: _Optional[bool] = ..., edge_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., facebook_instant_game_id: _Optional[str] = ..., apple_id: _Optional[str] = ...) -> None: ...
