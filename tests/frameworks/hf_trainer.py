"""transformers' Trainer with report_to="wandb", unmodified, on evlog (a tiny BERT on random data)."""
import eventlog.compat.wandb  # noqa: F401  (the one documented line)

import sys

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

torch.manual_seed(0)
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 6
cfg = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=32, num_labels=3)
model = BertForSequenceClassification(cfg)


class Data(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"input_ids": torch.randint(0, 64, (8,), generator=g), "labels": torch.tensor(i % 3)}


args = TrainingArguments(output_dir=sys.argv[1], report_to="wandb", logging_steps=2, max_steps=steps,
                         per_device_train_batch_size=8, save_strategy="no", use_cpu=True, run_name="tiny-bert",
                         eval_strategy="steps", eval_steps=3, disable_tqdm=True)
trainer = Trainer(model=model, args=args, train_dataset=Data(), eval_dataset=Data())
trainer.train()
import wandb  # noqa: E402

print("RUN", wandb.run.id if wandb.run else None)
