# Shared by the azd hooks on Windows (dot-sourced): the same checks and bounded retry as lib.sh.

function Require-AzLogin([string]$Hook) {
    if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
        Write-Error "argoboot: the Azure CLI (az) is not installed; install it (https://aka.ms/azure-cli), run 'az login', then 'azd hooks run $Hook'"
        exit 1
    }
    $signedIn = az account show --query id -o tsv 2>$null
    if ($LASTEXITCODE -ne 0 -or -not $signedIn) {
        Write-Error "argoboot: the Azure CLI is not signed in; run 'az login' (and 'az account set --subscription $env:AZURE_SUBSCRIPTION_ID'), then 'azd hooks run $Hook'"
        exit 1
    }
}

# Retry-On what pattern hint { command }: while the command fails with an error matching the pattern, wait
# ARGOBOOT_RETRY_SECONDS (default 30) and try again, at most ARGOBOOT_RETRY_ATTEMPTS times (default 10).
function Retry-On([string]$What, [string]$Pattern, [string]$Hint, [scriptblock]$Command) {
    $attempts = if ($env:ARGOBOOT_RETRY_ATTEMPTS) { [int]$env:ARGOBOOT_RETRY_ATTEMPTS } else { 10 }
    $delay = if ($env:ARGOBOOT_RETRY_SECONDS) { [int]$env:ARGOBOOT_RETRY_SECONDS } else { 30 }
    for ($attempt = 1; ; $attempt++) {
        $errors = & $Command 2>&1 | Out-String
        if ($LASTEXITCODE -eq 0) { return }
        if ($errors -notmatch $Pattern) {
            Write-Error "$errors`nargoboot: $What failed (see the error above)"
            exit 1
        }
        if ($attempt -ge $attempts) {
            Write-Error "$errors`nargoboot: $What still failed after $attempts attempts, $delay s apart: $Hint"
            exit 1
        }
        Write-Host "argoboot: ${What}: Azure is not ready yet ($($Matches[0])); retrying in $delay s ($attempt/$attempts)"
        Start-Sleep -Seconds $delay
    }
}

# Identity-Home subscription: @(subscription, group) of the identity resource group IDENTITY_RESOURCE_GROUP gives that
# subscription's clusters (as lib.sh's identity_home), or @('', '') when it gives none.
function Identity-Home([string]$Subscription) {
    $target = ''
    foreach ($entry in "$env:IDENTITY_RESOURCE_GROUP".Split(',', [StringSplitOptions]::RemoveEmptyEntries)) {
        $entry = $entry.Trim()
        if ($entry.Contains('=')) {
            $key, $value = $entry.Split('=', 2)
            if ($key.Trim() -ieq $Subscription) { $target = $value.Trim(); break }
        } else {
            $target = $entry
        }
    }
    if (-not $target) { return @('', '') }
    if ($target -match '^/subscriptions/([^/]+)/resourceGroups/([^/]+)') { return @($Matches[1], $Matches[2]) }
    return @($Subscription, $target)
}

# Ensure-IdentityGroup subscription group: as lib.sh's ensure_identity_group (no azd-env-name tag: azd down deletes by it).
function Ensure-IdentityGroup([string]$Subscription, [string]$Group) {
    $exists = az group exists --subscription $Subscription --name $Group
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    if ("$exists".Trim() -ne 'true') {
        az group create --subscription $Subscription --name $Group --location $env:AZURE_LOCATION `
          --tags application=argoboot "argoboot-identity-group=$env:AZURE_ENV_NAME" --output none
        if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
        Write-Host "argoboot: created the identity resource group $Group in subscription $Subscription ('azd down' leaves it: it holds the clusters' Argo CD identities)"
    }
}
