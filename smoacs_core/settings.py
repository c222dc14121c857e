"""Machine-specific settings: where models, data and results live, and which device to use.

One pydantic-settings class, read from environment variables prefixed ``SMOACS_`` and, optionally, from a
YAML file named by ``SMOACS_CONFIG_FILE`` (environment wins over the file). Scientific choices
(targets, learning rates, ...) do not belong here: they live in the typed run configurations.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

_CONFIG_FILE_ENV = "SMOACS_CONFIG_FILE"


class SmoacsSettings(BaseSettings):
    """Where things are on this machine."""

    model_config = SettingsConfigDict(env_prefix="SMOACS_", extra="forbid")

    model_dir: Path | None = Field(
        default=None,
        description="Directory holding pretrained matgl checkpoints as <model name>/{model.json,model.pt,state.pt}. "
        "When unset, checkpoints are downloaded from their published location into cache_dir.",
    )
    megnet_keras_dir: Path | None = Field(
        default=None,
        description="Directory holding the legacy Keras MEGNet models laid out as megnet's mvl_models/: "
        "mp-2018.6.1/<name>.hdf5 and mf_2020/pbe_gllb_hse_exp/<i>/best_model.hdf5, each with its .hdf5.json. "
        "When unset, each file is downloaded once from its published location into cache_dir/megnet_keras.",
    )
    cache_dir: Path = Field(
        default=Path("~/.cache/smoacs").expanduser(),
        description="Where downloaded models and data sets are kept between runs.",
    )
    trained_model_dir: Path | None = Field(
        default=None,
        description="Where models trained here (DFT corrections) are written and read, one folder per version; "
        "default <cache_dir>/trained-models. Never the repository.",
    )
    data_dir: Path | None = Field(
        default=None, description="Directory holding reference data sets (MP-20 subset, Perov-5, ...)."
    )
    results_dir: Path = Field(default=Path("results"), description="Default output directory of runs.")
    device: str = Field(default="cpu", description="torch device for optimization: 'cpu' or 'cuda'.")
    num_threads: int | None = Field(
        default=None, ge=1, description="torch intra-op threads; torch's own default when unset."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get(_CONFIG_FILE_ENV)
        if not path:
            return init_settings, env_settings
        file = Path(path).expanduser()
        if not file.is_file():
            raise FileNotFoundError(f"{_CONFIG_FILE_ENV}={path} does not name a readable file")
        return init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=file)
