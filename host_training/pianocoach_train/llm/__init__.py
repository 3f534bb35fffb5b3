"""The feedback language model on the host: instruction data (:mod:`.data`), a tiny local test model
(:mod:`.tiny`), QLoRA fine-tuning (:mod:`.finetune`) from one TOML config (:mod:`.finetune_config`)."""
